"""gankit's models, one file per family. Each model is built from a config dataclass
(``Model(config)``) and keeps it as ``model.config``, so a checkpoint can rebuild it."""

from gankit.models.dcgan import DCGANDiscriminator, DCGANDiscriminatorConfig, DCGANGenerator, DCGANGeneratorConfig
from gankit.models.cgan import (
    ConditionalDiscriminator,
    ConditionalDiscriminatorConfig,
    ConditionalGenerator,
    ConditionalGeneratorConfig,
)
from gankit.judge import DigitJudge
from gankit.models.gan import MLPDiscriminator, MLPDiscriminatorConfig, MLPGenerator, MLPGeneratorConfig
from gankit.models.transformer import GPT, GPTConfig
from gankit.models.vae import VAE, VAEConfig
from gankit.models.cvae import ConditionalVAE, ConditionalVAEConfig

# Every model that save_checkpoint / load_checkpoint may handle, by class name.
# A new model family adds its classes here.
MODELS = {cls.__name__: cls for cls in (MLPGenerator, MLPDiscriminator, DCGANGenerator, DCGANDiscriminator, ConditionalGenerator, ConditionalDiscriminator, DigitJudge, GPT, VAE, ConditionalVAE)}

__all__ = [
    "MODELS",
    "MLPGenerator",
    "MLPGeneratorConfig",
    "MLPDiscriminator",
    "MLPDiscriminatorConfig",
    "DCGANGenerator",
    "DCGANGeneratorConfig",
    "DCGANDiscriminator",
    "DCGANDiscriminatorConfig",
    "ConditionalGenerator",
    "ConditionalGeneratorConfig",
    "ConditionalDiscriminator",
    "ConditionalDiscriminatorConfig",
    "GPT",
    "GPTConfig",
    "VAE",
    "VAEConfig",
    "ConditionalVAE",
    "ConditionalVAEConfig",
]
