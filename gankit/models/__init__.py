"""gankit's models, one file per family. Each model is built from a config dataclass
(``Model(config)``) and keeps it as ``model.config``, so a checkpoint can rebuild it."""

from gankit.models.gan import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig

# Every model that save_checkpoint / load_checkpoint may handle, by class name.
# A new model family adds its classes here.
MODELS = {cls.__name__: cls for cls in (MLPGenerator, MLPDiscriminator)}

__all__ = ["MODELS", "MLPGenerator", "MLPGeneratorConfig", "MLPDiscriminator", "MLPDiscriminatorConfig"]
