"""Key parties enroll and run on their own hosts; committees are made through the API (commit, reveal) and
keep no share folder locations. Committees made before (single-machine share folders) are retired."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('committee', '0002_own_tables'),
    ]

    operations = [
        migrations.CreateModel(
            name='KeyParty',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('token_prefix', models.CharField(blank=True, db_index=True, max_length=32)),
                ('token_hash', models.CharField(blank=True, max_length=64)),
                ('enrollment_code_hash', models.CharField(blank=True, db_index=True, max_length=64)),
                ('enrollment_code_expires_at', models.DateTimeField(blank=True, null=True)),
                ('address', models.CharField(blank=True, help_text='host:port of its MPyC process', max_length=260)),
                ('certificate', models.TextField(blank=True, help_text='its TLS identity: a self-signed CA certificate (PEM)')),
                ('certificate_subject', models.CharField(blank=True, max_length=200)),
                ('certificate_fingerprint', models.CharField(blank=True, max_length=64)),
                ('enrolled_at', models.DateTimeField(blank=True, null=True)),
                ('last_seen_at', models.DateTimeField(blank=True, null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
            ],
            options={
                'ordering': ['name'],
            },
        ),
        migrations.RemoveField(
            model_name='keycommittee',
            name='parties',
        ),
        migrations.AddField(
            model_name='keycommittee',
            name='activated_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        # Existing committees' shares were in the portal's own folders: they are retired, not used again.
        migrations.AddField(
            model_name='keycommittee',
            name='state',
            field=models.CharField(choices=[('keygen', 'Keygen'), ('active', 'Active'), ('retired', 'Retired')], default='retired', max_length=16),
        ),
        migrations.AlterField(
            model_name='keycommittee',
            name='state',
            field=models.CharField(choices=[('keygen', 'Keygen'), ('active', 'Active'), ('retired', 'Retired')], default='keygen', max_length=16),
        ),
        migrations.AlterField(
            model_name='keycommittee',
            name='key_id',
            field=models.CharField(blank=True, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name='keycommittee',
            name='public_context_digest',
            field=models.CharField(blank=True, max_length=64),
        ),
        migrations.CreateModel(
            name='DecryptionJob',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('blob_digests', models.JSONField(help_text='blob store digests of the ciphertexts, in order')),
                ('vector_length', models.PositiveIntegerField()),
                ('sum_digest', models.CharField(max_length=64)),
                ('state', models.CharField(choices=[('pending', 'Pending'), ('done', 'Done'), ('failed', 'Failed')], default='pending', max_length=16)),
                ('attempt', models.PositiveIntegerField(default=1)),
                ('attempt_started_at', models.DateTimeField(help_text='when the current attempt starts (may be ahead)')),
                ('attempt_deadline', models.DateTimeField()),
                ('expires_at', models.DateTimeField()),
                ('fetched', models.JSONField(default=dict)),
                ('results', models.JSONField(default=dict)),
                ('failures', models.JSONField(default=list)),
                ('opened_digest', models.CharField(blank=True, help_text='blob store digest of the opened sum', max_length=64)),
                ('seconds', models.FloatField(blank=True, help_text='from creation to the opened sum', null=True)),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('finished_at', models.DateTimeField(blank=True, null=True)),
                ('committee', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='jobs', to='committee.keycommittee')),
            ],
            options={
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='CommitteeMember',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('index', models.PositiveSmallIntegerField()),
                ('commitment', models.CharField(blank=True, max_length=64)),
                ('contribution_digest', models.CharField(blank=True, help_text='blob store digest', max_length=64)),
                ('committee', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='members', to='committee.keycommittee')),
                ('party', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='memberships', to='committee.keyparty')),
            ],
            options={
                'ordering': ['committee_id', 'index'],
                'constraints': [models.UniqueConstraint(fields=('committee', 'index'), name='committee_member_index'), models.UniqueConstraint(fields=('committee', 'party'), name='committee_member_party')],
            },
        ),
    ]
