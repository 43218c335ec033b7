"""The declarative center document: load, validate, export (-> core)."""

from helpline.config.center import center_document, load_center, load_document, parse_center

__all__ = ["center_document", "load_center", "load_document", "parse_center"]
