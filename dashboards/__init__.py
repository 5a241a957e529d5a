"""Dashboards: the family, social-worker, installer and admin web app and its JSON API."""

from dashboards.app import create_app
from dashboards.settings import WebSettings, load_web_settings

__all__ = ["WebSettings", "create_app", "load_web_settings"]
