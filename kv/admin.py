from django.contrib import admin

from kv.models import KVEntry


@admin.register(KVEntry)
class KVEntryAdmin(admin.ModelAdmin):
    list_display = ("namespace", "key", "value_type", "expires_at", "updated_at")
    list_filter = ("value_type",)
    search_fields = ("namespace", "key")
