"""Campaign kits: key messages from head office, adaptation by the agencies, alignment, compliance."""
