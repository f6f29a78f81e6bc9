"""The operators' routing rules: loaded from config/rules.yaml, validated with line numbers, evaluated in memory."""
