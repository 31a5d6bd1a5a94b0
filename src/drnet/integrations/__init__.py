"""drnet inside other libraries' stacks; each module imports its library itself, on import.

- :mod:`drnet.integrations.timm`: drnet's backbones in timm's registry (``drnet_<name>``), so
  ``timm.create_model`` -- and SMP's ``"tu-"`` encoders through it -- build drnet's exact models.
- :mod:`drnet.integrations.smp`: which timm name SMP takes for a drnet backbone, and prediction
  at any input size for SMP models that need divisible sizes.
- :mod:`drnet.integrations.hub`: a model saved to / loaded from a folder in the Hugging Face
  Hub's layout (``model.safetensors`` + ``config.json``), pushed and pulled with huggingface_hub.

``import drnet`` imports none of them (nor timm, SMP or huggingface_hub).
"""
