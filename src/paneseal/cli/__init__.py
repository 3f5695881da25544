"""The command line: the only code in paneseal that prints, prompts or exits."""
