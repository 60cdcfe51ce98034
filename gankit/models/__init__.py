"""gankit's models, one file per family. Each model is built from a config dataclass
(``Model(config)``) and keeps it as ``model.config``, so a checkpoint can rebuild it.

* :mod:`~gankit.models.gan` — MLP generator and discriminator for 2-D points (lessons 01, 04, 05)
* :mod:`~gankit.models.dcgan` — convolutional GAN for 28×28 digits (lesson 02)
* :mod:`~gankit.models.cgan` — the conditional DCGAN (lesson 03)
* :mod:`~gankit.models.vae`, :mod:`~gankit.models.cvae` — (conditional) VAEs (lessons 06, 07)
* :mod:`~gankit.models.transformer` — a small GPT (lessons 08–10)
* :mod:`~gankit.models.lora` — LoRA, low-rank adaptation of a pretrained model's Linear layers (lesson 10)
* :mod:`~gankit.models.diffusion`, :mod:`~gankit.models.unet` — diffusion and flow matching: schedules,
  losses, samplers, and the denoisers (an MLP for points, a U-Net for digits) (lesson 12)
* :mod:`~gankit.models.judge` — the digit judge's classifier (measured with in :mod:`gankit.metrics`)
* :mod:`~gankit.models.checkpoint` — save a model to one file, and rebuild it from that file

Models compute; they never train, measure or draw (see the import rules in DESIGN.md).
"""

from gankit.models.cgan import (
    ConditionalDiscriminator,
    ConditionalDiscriminatorConfig,
    ConditionalGenerator,
    ConditionalGeneratorConfig,
)
from gankit.models.checkpoint import (
    MODELS,
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from gankit.models.cvae import ConditionalVAE, ConditionalVAEConfig
from gankit.models.dcgan import (
    DCGANDiscriminator,
    DCGANDiscriminatorConfig,
    DCGANGenerator,
    DCGANGeneratorConfig,
)
from gankit.models.gan import (
    MLPDiscriminator,
    MLPDiscriminatorConfig,
    MLPGenerator,
    MLPGeneratorConfig,
)
from gankit.models.diffusion import (
    MLPDenoiser,
    MLPDenoiserConfig,
    NoiseSchedule,
    make_schedule,
    sample_ddim,
    sample_ddpm,
    sample_flow,
)
from gankit.models.judge import DigitJudge, DigitJudgeConfig
from gankit.models.lora import LoRALinear, apply_lora, merge_lora, trainable_parameters
from gankit.models.transformer import GPT, GPTConfig
from gankit.models.unet import UNetConfig, UNetDenoiser
from gankit.models.vae import VAE, VAEConfig

__all__ = [
    "MODELS",
    "save_checkpoint",
    "read_checkpoint",
    "load_checkpoint",
    "CheckpointError",
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
    "DigitJudge",
    "DigitJudgeConfig",
    "GPT",
    "GPTConfig",
    "LoRALinear",
    "apply_lora",
    "merge_lora",
    "trainable_parameters",
    "VAE",
    "VAEConfig",
    "ConditionalVAE",
    "ConditionalVAEConfig",
    "MLPDenoiser",
    "MLPDenoiserConfig",
    "UNetDenoiser",
    "UNetConfig",
    "NoiseSchedule",
    "make_schedule",
    "sample_ddpm",
    "sample_ddim",
    "sample_flow",
]
