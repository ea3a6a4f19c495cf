from django.db import migrations, models


def mark_listed_submissions(apps, schema_editor):
    """Submissions the recovery sweep recorded before the flag existed carry
    their listing in the metadata: flag them, so none is paid automatically."""
    Agent = apps.get_model("tasks_app", "Agent")
    Agent.objects.filter(metadata__has_key="provider_listing").update(
        from_provider_listing=True
    )


class Migration(migrations.Migration):
    dependencies = [
        ("tasks_app", "0006_agent_provider_assignment_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="agent",
            name="from_provider_listing",
            field=models.BooleanField(db_default=False, default=False),
        ),
        migrations.RunPython(mark_listed_submissions, migrations.RunPython.noop),
    ]
