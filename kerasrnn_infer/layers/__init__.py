"""Layer implementations: one registry maps Keras class names to them (graph.make_layer)."""
