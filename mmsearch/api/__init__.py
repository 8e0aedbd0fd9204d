"""The REST API and web page behind ``mmsearch serve``."""
