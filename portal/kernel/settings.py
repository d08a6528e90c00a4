"""Settings read from the environment (prefix PORTAL_) and an optional .env file."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRETS = frozenset({"", "change-me", "dev-secret-change-me", "secret", "changeme"})
ROOT = Path(__file__).resolve().parents[2]


class Settings(BaseSettings):
    """Everything an operator can configure; see docs/CONFIGURATION.md."""

    model_config = SettingsConfigDict(env_prefix="PORTAL_", env_file=".env", extra="ignore")

    environment: Literal["development", "test", "production"] = "development"
    secret_key: str = "dev-secret-change-me"
    database_url: str = "sqlite:///./var/portal.db"
    storage_dir: Path = Path("./var/files")
    base_url: str = "http://127.0.0.1:8000"
    province_name: str = "Tỉnh Ninh Bình"
    portal_name: str = "Cổng Dịch vụ công"
    default_locale: Literal["vi", "en"] = "vi"
    timezone: str = "Asia/Ho_Chi_Minh"
    max_file_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_dossier_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    # Largest size an uploaded image may take once decoded (width × height × channels × bytes per sample),
    # checked from its header before decoding; the same default as forms.uploads.MAX_IMAGE_DECODED_BYTES.
    max_image_decoded_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    worker_in_process: bool = True
    worker_poll_seconds: float = Field(default=1.0, gt=0)
    # Development only (ignored elsewhere): the back-office simulator (portal/simulator) plays every agency
    # from inside the server, so that `make run` shows a dossier's whole life with no external system.
    simulator: bool = True
    page_size: int = Field(default=10, gt=0, le=100)
    page_cache_seconds: float = Field(default=10.0, ge=0)
    catalog_refresh_seconds: float = Field(default=30.0, ge=0)
    threads: int = Field(default=8, ge=1, le=200)
    gc_freeze: bool = True
    https: bool = False
    allow_local_accounts: bool = True
    # Assurance level of a portal-account (password) sign-in: 1, or 2 where accounts are verified in person.
    local_account_level: int = Field(default=1, ge=1, le=2)
    # OpenID Connect (the national SSO). Empty issuer: the built-in development provider (development only).
    oidc_issuer: str = ""
    oidc_client_id: str = ""
    oidc_client_secret: str = ""
    oidc_scopes: str = "openid profile email phone address"
    oidc_display_name: str = "VNeID"
    # acr values of the provider → assurance level 1 or 2; any other acr is refused at sign-in.
    oidc_acr_levels: dict[str, int] = {"urn:dvc:loa:1": 1, "urn:dvc:loa:2": 2}
    oidc_cccd_claim: str = "cccd"
    dev_idp: bool = True
    session_hours: float = Field(default=8.0, gt=0)
    # Rate limits and partner tokens.
    redis_url: str = ""
    rate_limits: dict[str, str] = {}
    partner_token_minutes: int = Field(default=10, ge=1, le=60)
    # Signing and verification (docs/SIGNING.md).
    signing_trust_roots: list[Path] = []
    signing_tsa_url: str = ""
    signing_seal_p12: Path | None = None
    signing_seal_passphrase: str = ""
    verify_max_bytes: int = Field(default=20 * 1024 * 1024, gt=0)
    verify_max_pages: int = Field(default=300, gt=0)
    verify_allow_fetching: bool = False
    # Where citizens' signing keys are made and kept: PKCS#12 files, or a PKCS#11 token (docs/SIGNING.md).
    signing_key_store: Literal["pkcs12", "pkcs11"] = "pkcs12"
    signing_pkcs11_module: Path = Path("/usr/lib/softhsm/libsofthsm2.so")
    signing_pkcs11_token: str = ""
    signing_pkcs11_pin: str = ""
    # Notifications to citizens (docs/CONFIGURATION.md#notifications): "log" writes emails to the log.
    notify_channel: Literal["log", "smtp"] = "log"
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_username: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = False
    smtp_ssl: bool = False
    smtp_from: str = "no-reply@dichvucong.local"
    smtp_timeout_seconds: float = 10
    # SMS and Zalo (docs/NOTIFICATIONS.md): "log" records what would be sent (the embedded default); "http" is
    # an HTTP SMS provider, "zns" Zalo's template messages. Each plugin's options are a JSON object.
    sms_provider: str = "log"
    sms_options: dict[str, Any] = {}
    sms_max_segments: int = Field(default=2, ge=1, le=10)
    zalo_provider: str = "log"
    zalo_options: dict[str, Any] = {}
    # Reporting to the national public-service portal (docs/NATIONAL_REPORTING.md): "log" or "http".
    national_reporting: str = "log"
    national_options: dict[str, Any] = {}
    # Public statistics (/stats): how long one computed answer is served again.
    stats_cache_seconds: float = Field(default=60.0, ge=0)
    # Payments (docs/PAYMENTS.md): the gateways offered to payers, in order, and each one's options.
    payment_gateways: list[str] = ["sandbox"]
    payment_options: dict[str, dict[str, Any]] = {}
    # How long a payer has at the gateway; a payment still pending this long after its start is settled
    # by querying the gateway (the reconciliation job).
    payment_expiry_minutes: int = Field(default=15, ge=1, le=24 * 60)
    payment_reconcile_after_minutes: int = Field(default=20, ge=1)
    payment_reconcile_interval_seconds: float = Field(default=300.0, gt=0)
    # Working-day calendar (docs/DEADLINES.md): files of announced days off and working weekends, read in
    # order over the shipped portal/kernel/data/vn_calendar.yaml.
    calendar_files: list[Path] = []
    # Outbox retries (docs/WEBHOOKS.md): a failed message waits a random time of at most
    # min(max, base × 2^attempts) seconds ("full jitter"), and is dead after this many attempts.
    outbox_max_attempts: int = Field(default=15, ge=1, le=100)
    outbox_retry_base_seconds: float = Field(default=2.0, gt=0)
    outbox_retry_max_seconds: float = Field(default=3600.0, gt=0)
    # Pushes to back-offices (docs/WEBHOOKS.md): {"UBXA": {"url": "https://…", "secrets": ["whsec_…"]}} by
    # agency code (an endpoint set with `portal webhooks set` wins), and the time one delivery may take.
    webhook_endpoints: dict[str, dict[str, Any]] = {}
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=120)

    # Postal service (docs/POSTAL.md). Operators by id: the plugin that serves it ("pull": it fetches orders
    # through /api/v1/postal; "vnpost": the portal posts orders to its API and polls tracking), the provinces
    # it serves (two-digit codes, "*" for any) and the plugin's options. An order goes to the first operator
    # listed for the province of the applicant's address, else to the first with "*".
    postal_operators: dict[str, dict[str, Any]] = {"vnpost": {"plugin": "pull", "provinces": ["*"]}}
    # The tariff (zones × weight classes, per-operator overrides): the shipped postal/data/tariff.yaml, or this.
    postal_tariff_file: Path | None = None
    # Failed delivery attempts after which the parcel goes back to the centre.
    postal_max_attempts: int = Field(default=3, ge=1, le=10)
    postal_proof_max_bytes: int = Field(default=2 * 1024 * 1024, gt=0)
    # How often the tracking of orders given to push operators is polled.
    postal_poll_interval_seconds: float = Field(default=600.0, gt=0)
    # Visits to the centre (docs/VISITS.md): opening hours and slots (the shipped portal/visits/data/
    # opening_hours.yaml, or this file), and how many days ahead a visit may be booked.
    visits_hours_file: Path | None = None
    visits_booking_days: int = Field(default=14, ge=1, le=90)
    # Feedback and complaints (docs/FEEDBACK.md): working days the agency has to answer (Nghị định 20/2008,
    # Điều 12: 10 working days for a feedback or suggestion on administrative regulations).
    feedback_answer_days: int = Field(default=10, ge=1, le=90)
    # The console (docs/STAFF.md): staff sessions are shorter than citizens'; the OpenID provider's claim that
    # carries the staff role ("supervisor", "officer:<agency code>", "postal:<operator>"), and the issuer name
    # shown in authenticator apps.
    staff_session_hours: float = Field(default=4.0, gt=0, le=24)
    staff_role_claim: str = "portal_staff_role"
    staff_totp_issuer: str = "Dịch vụ công"
    # The audit trail (docs/AUDIT.md): where `portal audit export --day` writes the sealed daily heads.
    audit_export_dir: Path = Path("./var/audit")

    @model_validator(mode="after")
    def _refuse_placeholder_secrets(self) -> Settings:
        if self.environment != "development" and (self.secret_key in PLACEHOLDER_SECRETS or len(self.secret_key) < 32):
            raise ValueError(
                "PORTAL_SECRET_KEY must be set to a random value of at least 32 characters "
                "outside development (python -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        if self.environment == "production" and self.oidc_issuer == "" and not self.allow_local_accounts:
            raise ValueError("PORTAL_OIDC_ISSUER must be set in production when local accounts are switched off")
        if any(level not in (1, 2) for level in self.oidc_acr_levels.values()):
            raise ValueError("PORTAL_OIDC_ACR_LEVELS maps acr values to the levels 1 or 2")
        from portal.kernel.ratelimit import parse_rules

        parse_rules(self.rate_limits)
        if self.max_dossier_bytes < self.max_file_bytes:
            raise ValueError("PORTAL_MAX_DOSSIER_BYTES must be at least PORTAL_MAX_FILE_BYTES")
        # The calendar is process-wide like the time zone, and every process (web, worker, command) builds its
        # settings once at start: installing the files here makes a bad file stop the start with its reason.
        from portal.kernel.calendar import CalendarFileError, configure

        try:
            configure(self.calendar_files)
        except CalendarFileError as exc:
            raise ValueError(f"PORTAL_CALENDAR_FILES: {exc}") from None
        return self

    @property
    def dev_idp_enabled(self) -> bool:
        """The built-in development OpenID provider never runs in production."""
        return self.dev_idp and self.environment != "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings (tests build their own Settings and pass them to create_app)."""
    return Settings()
