"""The store: tables, migrations, field encryption and the repository the service uses."""

from bot.store.crypto import Cipher, KeyringError
from bot.store.deliveries import (
    Delivery,
    DeliveryBook,
    NudgeSettingsBook,
    PlannedRow,
    StoredNudgeSettings,
)
from bot.store.errors import StorageError
from bot.store.models import utcnow
from bot.store.repository import JournalEntry, ReflectionRecord, Store, Transaction

__all__ = [
    "Cipher",
    "Delivery",
    "DeliveryBook",
    "JournalEntry",
    "KeyringError",
    "NudgeSettingsBook",
    "PlannedRow",
    "ReflectionRecord",
    "StorageError",
    "Store",
    "StoredNudgeSettings",
    "Transaction",
    "utcnow",
]
