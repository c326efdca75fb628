"""The customer portal (issue #22): customers sign in by an emailed link and see their own invoices, credit
notes and documents."""

from o2c.web.portal.app import create_app
from o2c.web.portal.settings import PortalSecretMissing, PortalSettings

__all__ = ["PortalSecretMissing", "PortalSettings", "create_app"]
