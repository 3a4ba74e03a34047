"""Registry workflow for the product classifier: register, gate, promote, roll back, list."""
