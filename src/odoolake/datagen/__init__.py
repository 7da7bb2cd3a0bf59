"""Odoo-shaped synthetic data with the messy cases of shared/reference/bir-odoo.md §6."""

from odoolake.datagen.generator import MODELS, Manifest, batch_id, generate
from odoolake.datagen.model import AGENCIES, GenConfig, MessyRates

__all__ = ["AGENCIES", "MODELS", "GenConfig", "Manifest", "MessyRates", "batch_id", "generate"]
