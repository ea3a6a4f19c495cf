from django.apps import AppConfig


class QualificationsAppConfig(AppConfig):
    name = "qualifications_app"
    verbose_name = "Qualifications"
