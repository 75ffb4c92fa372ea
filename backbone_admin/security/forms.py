"""Forms of the ACL and SCRAM pages; Kafka's rules are checked by the gateway's validators."""

from __future__ import annotations

from typing import Any

from django import forms

from backbone_admin.kafka import InvalidRequest
from backbone_admin.kafka import security as gateway
from backbone_admin.security import services


def _choices(values: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(v, v.replace("_", " ").title().replace(" ", "")) if v != "ANY" else (v, "any") for v in values]


PRINCIPAL_HELP = "User:alice — the principal Kafka authenticates (User:* is everyone)"


class AclFilterForm(forms.Form):
    principal = forms.CharField(required=False, max_length=1000)
    resource_type = forms.ChoiceField(choices=_choices(("ANY", *gateway.RESOURCE_TYPES)), required=False)
    resource_name = forms.CharField(required=False, max_length=1000)
    pattern_type = forms.ChoiceField(choices=_choices(gateway.FILTER_PATTERN_TYPES), required=False)

    def acl_filter(self) -> gateway.AclFilter:
        data = self.cleaned_data
        return gateway.acl_filter(
            principal_name=data.get("principal") or "",
            resource_type=data.get("resource_type") or "ANY",
            resource_name=data.get("resource_name") or "",
            pattern_type=data.get("pattern_type") or "ANY",
        )


class AclDeleteForm(AclFilterForm):
    """A filter (one row's exact binding, or the list's filter) plus what narrows it further."""

    host = forms.CharField(required=False, max_length=1000)
    operation = forms.ChoiceField(choices=_choices(("ANY", *gateway.OPERATIONS)), required=False)
    permission = forms.ChoiceField(choices=_choices(("ANY", *gateway.PERMISSIONS)), required=False)
    fingerprint = forms.CharField(required=False, max_length=64)

    def acl_filter(self) -> gateway.AclFilter:
        data = self.cleaned_data
        return gateway.acl_filter(
            principal_name=data.get("principal") or "",
            resource_type=data.get("resource_type") or "ANY",
            resource_name=data.get("resource_name") or "",
            pattern_type=data.get("pattern_type") or "ANY",
            host=data.get("host") or "",
            operation=data.get("operation") or "ANY",
            permission=data.get("permission") or "ANY",
        )


class _BindingsForm(forms.Form):
    principal = forms.CharField(max_length=1000, help_text=PRINCIPAL_HELP)
    host = forms.CharField(max_length=255, required=False, initial="*", help_text="* for any host")
    kind = ""

    def bindings(self) -> list[gateway.Acl]:
        raise NotImplementedError

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not self.errors:
            try:
                self.planned = self.bindings()
            except InvalidRequest as exc:
                for field, _ in (exc.fields or {}).items():
                    if field in self.fields:
                        self.add_error(field, exc.message)
                        break
                else:
                    self.add_error(None, exc.message)
        return data


class AclForm(_BindingsForm):
    kind = "single"
    title = "One ACL"
    resource_type = forms.ChoiceField(choices=_choices(gateway.RESOURCE_TYPES))
    resource_name = forms.CharField(
        max_length=1000, required=False, help_text=f"topic, group or transactional id; `{gateway.CLUSTER_RESOURCE}`"
    )
    pattern_type = forms.ChoiceField(choices=_choices(gateway.PATTERN_TYPES))
    operation = forms.ChoiceField(choices=_choices(gateway.OPERATIONS))
    permission = forms.ChoiceField(choices=_choices(gateway.PERMISSIONS))

    def bindings(self) -> list[gateway.Acl]:
        d = self.cleaned_data
        return [
            gateway.acl(
                resource_type=d["resource_type"],
                resource_name=d.get("resource_name") or "",
                pattern_type=d["pattern_type"],
                principal_name=d["principal"],
                host=d.get("host") or "*",
                operation=d["operation"],
                permission=d["permission"],
            )
        ]


class _TemplateForm(_BindingsForm):
    def bindings(self) -> list[gateway.Acl]:
        return services.template_bindings(self.kind, dict(self.cleaned_data))


class ConsumerForm(_TemplateForm):
    kind = "consumer"
    title = services.TEMPLATES["consumer"]
    topic = forms.CharField(max_length=1000)
    pattern_type = forms.ChoiceField(choices=_choices(gateway.PATTERN_TYPES), help_text="of the topic name")
    group = forms.CharField(max_length=1000, help_text="the consumer's group.id")


class ProducerForm(_TemplateForm):
    kind = "producer"
    title = services.TEMPLATES["producer"]
    topic = forms.CharField(max_length=1000)
    pattern_type = forms.ChoiceField(choices=_choices(gateway.PATTERN_TYPES), help_text="of the topic name")
    transactional_id = forms.CharField(max_length=1000, required=False, help_text="only for a transactional producer")


class StreamsForm(_TemplateForm):
    kind = "streams"
    title = services.TEMPLATES["streams"]
    application_id = forms.CharField(max_length=1000, help_text="application.id: the prefix of its internal topics")
    # Comma-separated on one line: the preview's confirm form carries them in hidden inputs.
    input_topics = forms.CharField(max_length=10000, help_text="the topics it reads, comma-separated")
    output_topics = forms.CharField(max_length=10000, required=False, help_text="the topics it writes, comma-separated")
    exactly_once = forms.BooleanField(required=False, help_text="processing.guarantee=exactly_once_v2")


KIND_FORMS: dict[str, type[_BindingsForm]] = {
    "single": AclForm,
    "consumer": ConsumerForm,
    "producer": ProducerForm,
    "streams": StreamsForm,
}


class ScramForm(forms.Form):
    user = forms.CharField(max_length=255)
    mechanism = forms.ChoiceField(choices=[(m, m) for m in gateway.MECHANISMS])
    iterations = forms.IntegerField(
        min_value=gateway.MIN_ITERATIONS, max_value=gateway.MAX_ITERATIONS, initial=8192, help_text="4096 to 16384"
    )
    # Never rendered back: a refused form asks for the password again.
    password = forms.CharField(
        strip=False,
        min_length=services.MIN_PASSWORD,
        max_length=services.MAX_PASSWORD,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}, render_value=False),
        help_text="shown never again: it goes to the brokers only",
    )
