"""The grant form of /access/grants/: it only collects the fields; services.clean_grant judges them."""

from __future__ import annotations

from typing import Any

from django import forms

from backbone_admin.clusters import all_clusters
from backbone_admin.models import Grant, Role

PATTERN_HELP = "one per line: a glob (orders.*) or re: and a regular expression matching the whole name"


class GrantForm(forms.Form):
    subject_type = forms.ChoiceField(label="Who", choices=Grant.Subject.choices, initial=Grant.Subject.GROUP)
    subject = forms.CharField(
        label="User or group",
        max_length=150,
        widget=forms.TextInput(attrs={"class": "mono", "placeholder": "kafka-orders-* or alice"}),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.VIEWER)
    cluster = forms.ChoiceField(required=False)
    topics = forms.CharField(
        label="Topic patterns",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono", "placeholder": "orders.*"}),
    )
    groups = forms.CharField(
        label="Consumer-group patterns",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono", "placeholder": "orders-*"}),
    )
    note = forms.CharField(max_length=200, required=False, widget=forms.TextInput(attrs={"class": "wide"}))

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cluster = self.fields["cluster"]
        assert isinstance(cluster, forms.ChoiceField)
        # Read at each form: the clusters file may change without a restart of this module.
        cluster.choices = [("", "every cluster"), *((c.name, c.name) for c in all_clusters())]

    @staticmethod
    def initial_for(grant: Grant) -> dict[str, Any]:
        return {
            "subject_type": grant.subject_type,
            "subject": grant.subject,
            "role": grant.role,
            "cluster": grant.cluster,
            "topics": "\n".join(grant.topics or []),
            "groups": "\n".join(grant.groups or []),
            "note": grant.note,
        }
