"""The asyncio runtime: each tenant's engine on the real clock, its commands carried out."""
