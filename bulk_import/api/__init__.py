"""The only package that knows httpx and tenacity: the client, the retry policy, the limiter,
and the mapping from answers to outcomes (Cartesia's, and Twilio's listing in ``twilio``).
Jobs never see an ``httpx.Response``.
"""
