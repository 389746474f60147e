"""The Amazon marketplaces the emulator knows, with what the Sellers API and the Ads profiles
report about each.

Ids and regions: SP-API marketplace table (archived developer guide; ``sp_api/base/marketplaces.py``
in saleweaver/python-amazon-sp-api). Names, currencies, language codes and domains: the shape of
the Sellers API ``Marketplace`` object (``sellers.json``: ``defaultLanguageCode`` like ``en_US``,
``domainName`` like ``www.amazon.com``). Time zones: the Ads API profile time-zone table.
Authorizations are regional (providers.md §1.1), so a consent may only name marketplaces of one
region.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Marketplace:
    id: str
    name: str
    country_code: str
    currency_code: str
    language_code: str
    domain_name: str
    region: str  # "NA", "EU" or "FE" (the SP-API endpoint region)
    timezone: str  # Amazon Ads profile time zone

    def wire(self) -> dict[str, Any]:
        """The Sellers API ``Marketplace`` object."""
        return {
            "id": self.id,
            "name": self.name,
            "countryCode": self.country_code,
            "defaultCurrencyCode": self.currency_code,
            "defaultLanguageCode": self.language_code,
            "domainName": self.domain_name,
        }


# id, name, country, currency, language, region, Ads time zone; the domain is "www." + name.
_ROWS: Final = (
    ("ATVPDKIKX0DER", "Amazon.com", "US", "USD", "en_US", "NA", "America/Los_Angeles"),
    ("A2EUQ1WTGCTBG2", "Amazon.ca", "CA", "CAD", "en_CA", "NA", "America/Los_Angeles"),
    ("A1AM78C64UM0Y8", "Amazon.com.mx", "MX", "MXN", "es_MX", "NA", "America/Los_Angeles"),
    ("A2Q3Y263D00KWC", "Amazon.com.br", "BR", "BRL", "pt_BR", "NA", "America/Sao_Paulo"),
    ("A1F83G8C2ARO7P", "Amazon.co.uk", "GB", "GBP", "en_GB", "EU", "Europe/London"),
    ("A1PA6795UKMFR9", "Amazon.de", "DE", "EUR", "de_DE", "EU", "Europe/Paris"),
    ("A13V1IB3VIYZZH", "Amazon.fr", "FR", "EUR", "fr_FR", "EU", "Europe/Paris"),
    ("APJ6JRA9NG5V4", "Amazon.it", "IT", "EUR", "it_IT", "EU", "Europe/Paris"),
    ("A1RKKUPIHCS9HS", "Amazon.es", "ES", "EUR", "es_ES", "EU", "Europe/Paris"),
    ("A1805IZSGTT6HS", "Amazon.nl", "NL", "EUR", "nl_NL", "EU", "Europe/Amsterdam"),
    ("A2NODRKZP88ZB9", "Amazon.se", "SE", "SEK", "sv_SE", "EU", "Europe/Stockholm"),
    ("A1C3SOZRARQ6R3", "Amazon.pl", "PL", "PLN", "pl_PL", "EU", "Europe/Warsaw"),
    ("A33AVAJ2PDY3EV", "Amazon.com.tr", "TR", "TRY", "tr_TR", "EU", "Europe/Istanbul"),
    ("A2VIGQ35RCS4UG", "Amazon.ae", "AE", "AED", "en_AE", "EU", "Asia/Dubai"),
    ("A21TJRUUN4KGV", "Amazon.in", "IN", "INR", "en_IN", "EU", "Asia/Kolkata"),
    ("A1VC38T7YXB528", "Amazon.co.jp", "JP", "JPY", "ja_JP", "FE", "Asia/Tokyo"),
    ("A39IBJ37TRP1C6", "Amazon.com.au", "AU", "AUD", "en_AU", "FE", "Australia/Sydney"),
    ("A19VAU5U5O7RUS", "Amazon.sg", "SG", "SGD", "en_SG", "FE", "Asia/Singapore"),
)

MARKETPLACES: Final[dict[str, Marketplace]] = {
    row[0]: Marketplace(*row[:5], "www." + row[1].lower(), *row[5:]) for row in _ROWS
}

US: Final = "ATVPDKIKX0DER"
CA: Final = "A2EUQ1WTGCTBG2"
MX: Final = "A1AM78C64UM0Y8"

# What the consent page proposes: the seller sells in the US, Canada and Mexico (one region).
DEFAULT_MARKETPLACE_IDS: Final = (US, CA, MX)


def parse_marketplace_ids(raw: str) -> tuple[str, ...]:
    """Comma- or space-separated ids, de-duplicated in order; raises ValueError when one is
    unknown, none is given, or they span regions (an authorization covers one region)."""
    ids = tuple(dict.fromkeys(part for part in raw.replace(",", " ").split() if part))
    if not ids:
        raise ValueError("Choose at least one marketplace")
    unknown = [i for i in ids if i not in MARKETPLACES]
    if unknown:
        raise ValueError(f"Unknown marketplace id: {', '.join(unknown)}")
    regions = {MARKETPLACES[i].region for i in ids}
    if len(regions) > 1:
        raise ValueError("An authorization covers the marketplaces of one region only")
    return ids
