"""Request and response models (pydantic v2): every input model rejects unknown fields."""
