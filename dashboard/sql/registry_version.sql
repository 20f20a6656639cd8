SELECT argMax(registry_sha256, version) FROM {devices_raw}
