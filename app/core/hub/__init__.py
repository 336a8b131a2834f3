"""The Hugging Face hub and other model sources: client, remote headers, transfers, downloads, catalog."""
