"""The CACRE verifier network (encoder -> bidirectional cross-attention -> projection) and the BCE baseline."""
