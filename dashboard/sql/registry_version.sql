SELECT argMax(registry_sha256, version) FROM {{raw "devices_raw"}}
