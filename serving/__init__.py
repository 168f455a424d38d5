"""Serving: loads the exported model artifact and its metadata; never imports training code."""
