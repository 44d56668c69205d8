"""crossclr_lab: learn, explore and reproduce CrossCLR (Zolfaghari et al., ICCV 2021)."""

__version__ = "0.1.0"
