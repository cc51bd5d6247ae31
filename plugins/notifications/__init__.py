"""Notifications (issue 17): Slack, Discord, Microsoft Teams, Google Chat, Telegram, a
generic webhook and e-mail, under Kestra's ``io.kestra.plugin.notifications`` names.

Registered through the ``trellis.plugins`` entry point (``notifications =
"plugins.notifications"``) as a third party would ship it. It needs no library beyond the
standard one: HTTP goes through the HTTP task's guarded client, mail through ``smtplib``.
"""

from plugins.notifications import discord, google_chat, mail, slack, teams, telegram, webhook

PLUGINS = [
    *slack.PLUGINS,
    *discord.PLUGINS,
    *teams.PLUGINS,
    *google_chat.PLUGINS,
    *telegram.PLUGINS,
    *webhook.PLUGINS,
    *mail.PLUGINS,
]
