#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "backbone_admin.settings")
    # In a checkout where `make run` has kept a local key, commands use it (settings.py
    # otherwise refuses to start without SECRET_KEY; a container never has this file).
    local_key = os.path.join(os.path.dirname(os.path.abspath(__file__)), "var", "secret_key")
    if not (os.environ.get("SECRET_KEY") or os.environ.get("SECRET_KEY_FILE")) and os.path.exists(local_key):
        os.environ.setdefault("BACKBONE_LOCAL", "1")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
