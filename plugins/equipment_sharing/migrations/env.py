from core.migrate import run_plugin_env

run_plugin_env("equipment_sharing")
