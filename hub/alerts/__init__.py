"""The alert engine: route each alert to the right people, escalate until someone goes, audit.

Public surface for the hub, the web app and the CLI; see docs/alerts.md.
"""

from hub.alerts.channels import AppriseChannel, Channel, RecordingChannel, SendResult
from hub.alerts.config import AlertsConfig, load_alerts_config
from hub.alerts.engine import AlertEngine, AlertRunner, open_alerts_db
from hub.alerts.lifecycle import (
    OPEN_STATES,
    AlertError,
    AlertNotFoundError,
    AlertService,
    AlertState,
    AlertView,
    AuditEntry,
    HomeMode,
    InvalidTransitionError,
    LinkAck,
    ModeView,
    NotificationView,
    Outcome,
    Progress,
    TokenError,
    TokenInfo,
    TokenProblem,
)
from hub.alerts.severity import Severity, severity_for
from hub.alerts.tokens import TokenSigner

__all__ = [
    "OPEN_STATES",
    "AlertEngine",
    "AlertError",
    "AlertNotFoundError",
    "AlertRunner",
    "AlertService",
    "AlertState",
    "AlertView",
    "AlertsConfig",
    "AppriseChannel",
    "AuditEntry",
    "Channel",
    "HomeMode",
    "InvalidTransitionError",
    "LinkAck",
    "ModeView",
    "NotificationView",
    "Outcome",
    "Progress",
    "RecordingChannel",
    "SendResult",
    "Severity",
    "TokenError",
    "TokenInfo",
    "TokenProblem",
    "TokenSigner",
    "load_alerts_config",
    "open_alerts_db",
    "severity_for",
]
