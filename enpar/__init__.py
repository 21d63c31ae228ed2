"""ENPAR Studio: joint entity-relation extraction with ENPAR pre-training (Wang et al., EACL 2021).

Submodules are imported explicitly (``import enpar.metrics``) so that the torch-free parts
(schema, readers, metrics) never pull in torch.
"""

__version__ = "0.1.0"
