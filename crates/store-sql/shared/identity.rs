//! Shared by both backends: compiled into `store-postgres` and `store-sqlite`
//! (each declares it with `#[path]`), with that crate's `Db` and `Backend`.

use crate::outbox::insert_event;
const USER_COLUMNS: &str = "id, email, full_name, role, suspended, created_at, updated_at";
const ADDRESS_COLUMNS: &str = "id, user_id, full_name, line1, line2, city, region, postal_code, country, \
                               phone, is_default_shipping, is_default_billing, created_at";

fn user_from_row(row: &<crate::Db as ::sqlx::Database>::Row) -> ::std::result::Result<::identity::User, ::sqlx::Error> {
    use ::sqlx::Row as _;
    let role: String = row.try_get("role")?;
    Ok(::identity::User {
        id: row.try_get("id")?,
        email: ::identity::Email::from_trusted(row.try_get("email")?),
        full_name: row.try_get("full_name")?,
        role: role.parse().map_err(|e| ::sqlx::Error::Decode(Box::new(e)))?,
        suspended: row.try_get("suspended")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn address_from_row(
    row: &<crate::Db as ::sqlx::Database>::Row,
) -> ::std::result::Result<::identity::Address, ::sqlx::Error> {
    use ::sqlx::Row as _;
    Ok(::identity::Address {
        id: row.try_get("id")?,
        user_id: row.try_get("user_id")?,
        full_name: row.try_get("full_name")?,
        line1: row.try_get("line1")?,
        line2: row.try_get("line2")?,
        city: row.try_get("city")?,
        region: row.try_get("region")?,
        postal_code: row.try_get("postal_code")?,
        country: row.try_get("country")?,
        phone: row.try_get("phone")?,
        is_default_shipping: row.try_get("is_default_shipping")?,
        is_default_billing: row.try_get("is_default_billing")?,
        created_at: row.try_get("created_at")?,
    })
}

fn store_error(e: ::sqlx::Error) -> ::identity::StoreError {
    match &e {
        ::sqlx::Error::Database(db) if db.is_unique_violation() => ::identity::StoreError::AlreadyExists,
        _ => ::identity::StoreError::Unexpected(e.into()),
    }
}

async fn insert_token<'e>(
    executor: impl ::sqlx::Executor<'e, Database = crate::Db>,
    record: &::identity::tokens::RefreshTokenRecord,
) -> ::std::result::Result<(), ::sqlx::Error> {
    ::sqlx::query(
        "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(record.id)
    .bind(record.family_id)
    .bind(record.user_id)
    .bind(&record.token_hash)
    .bind(record.created_at)
    .bind(record.expires_at)
    .execute(executor)
    .await?;
    Ok(())
}

/// `LIKE` pattern matching `q` anywhere, with wildcards in `q` escaped.
#[::async_trait::async_trait]
impl ::identity::IdentityStore for crate::Backend {
    #[::tracing::instrument(skip_all, fields(user_id = %user.id))]
    async fn create_user(
        &self,
        user: &::identity::User,
        password_hash: Option<&str>,
        event: &::kernel::Event,
    ) -> ::identity::store::StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(store_error)?;
        ::sqlx::query(
            "INSERT INTO users (id, email, full_name, role, suspended, password_hash, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(user.id)
        .bind(user.email.as_str())
        .bind(&user.full_name)
        .bind(user.role.as_str())
        .bind(user.suspended)
        .bind(password_hash)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        insert_event(&mut tx, event).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.events_written();
        Ok(())
    }

    async fn user_by_id(&self, id: ::uuid::Uuid) -> ::identity::store::StoreResult<Option<::identity::User>> {
        // Every authenticated request runs this: keep it a static string.
        const SQL: &str = "SELECT id, email, full_name, role, suspended, created_at, updated_at \
                           FROM users WHERE id = $1 AND deleted_at IS NULL";
        let row = ::sqlx::query(SQL).bind(id).fetch_optional(&self.pool).await.map_err(store_error)?;
        row.as_ref().map(user_from_row).transpose().map_err(store_error)
    }

    async fn credentials_by_email(
        &self,
        email: &::identity::Email,
    ) -> ::identity::store::StoreResult<Option<(::identity::User, Option<String>)>> {
        use ::sqlx::Row as _;
        let sql = format!("SELECT {USER_COLUMNS}, password_hash FROM users WHERE email = $1 AND deleted_at IS NULL");
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(email.as_str())
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        match row {
            None => Ok(None),
            Some(row) => {
                let user = user_from_row(&row).map_err(store_error)?;
                let hash: Option<String> = row.try_get("password_hash").map_err(store_error)?;
                Ok(Some((user, hash)))
            }
        }
    }

    async fn update_profile(
        &self,
        id: ::uuid::Uuid,
        full_name: &str,
        at: ::time::OffsetDateTime,
    ) -> ::identity::store::StoreResult<Option<::identity::User>> {
        let sql = format!(
            "UPDATE users SET full_name = $1, updated_at = $2 WHERE id = $3 AND deleted_at IS NULL \
             RETURNING {USER_COLUMNS}"
        );
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(full_name)
            .bind(at)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(store_error)?;
        row.as_ref().map(user_from_row).transpose().map_err(store_error)
    }

    #[::tracing::instrument(skip_all, fields(user_id = %id))]
    async fn admin_update_user(
        &self,
        id: ::uuid::Uuid,
        patch: &::identity::AdminUserPatch,
        at: ::time::OffsetDateTime,
        event: &(dyn for<'u> Fn(&'u ::identity::User) -> ::kernel::Event + Send + Sync),
    ) -> ::identity::store::StoreResult<Option<::identity::User>> {
        let mut tx = self.begin_write().await.map_err(store_error)?;
        let sql = format!(
            "UPDATE users SET role = COALESCE($1, role), suspended = COALESCE($2, suspended), updated_at = $3 \
             WHERE id = $4 AND deleted_at IS NULL RETURNING {USER_COLUMNS}"
        );
        let row = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(patch.role.map(|r| r.as_str()))
            .bind(patch.suspended)
            .bind(at)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        if patch.suspended == Some(true) {
            ::sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(store_error)?;
        }
        let user = user_from_row(&row).map_err(store_error)?;
        insert_event(&mut tx, &event(&user)).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.events_written();
        Ok(Some(user))
    }

    async fn list_users(
        &self,
        filter: &::identity::UserFilter,
        page: ::kernel::PageSpec,
    ) -> ::identity::store::StoreResult<(Vec<::identity::User>, u64)> {
        use ::sqlx::Row as _;
        const WHERE: &str = "deleted_at IS NULL \
            AND ($1 IS NULL OR lower(email) LIKE $1 ESCAPE '\\' OR lower(full_name) LIKE $1 ESCAPE '\\') \
            AND ($2 IS NULL OR role = $2) AND ($3 IS NULL OR suspended = $3)";
        let pattern = filter.q.as_deref().map(store_sql::contains_pattern);
        let role = filter.role.map(|r| r.as_str());
        let count_sql = format!("SELECT COUNT(*) AS n FROM users WHERE {WHERE}");
        let total: i64 = ::sqlx::query(::sqlx::AssertSqlSafe(count_sql))
            .bind(pattern.as_deref())
            .bind(role)
            .bind(filter.suspended)
            .fetch_one(&self.pool)
            .await
            .and_then(|row| row.try_get("n"))
            .map_err(store_error)?;
        // Ids are UUIDv7, so id order is creation order.
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {WHERE} ORDER BY id DESC LIMIT $4 OFFSET $5");
        let rows = ::sqlx::query(::sqlx::AssertSqlSafe(sql))
            .bind(pattern.as_deref())
            .bind(role)
            .bind(filter.suspended)
            .bind(page.limit())
            .bind(page.offset())
            .fetch_all(&self.pool)
            .await
            .map_err(store_error)?;
        let users = rows.iter().map(user_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)?;
        Ok((users, u64::try_from(total).unwrap_or(0)))
    }

    #[::tracing::instrument(skip_all, fields(user_id = %id))]
    async fn erase_user(
        &self,
        id: ::uuid::Uuid,
        tombstone_email: &str,
        at: ::time::OffsetDateTime,
        event: &::kernel::Event,
    ) -> ::identity::store::StoreResult<bool> {
        let mut tx = self.begin_write().await.map_err(store_error)?;
        let erased = ::sqlx::query(
            "UPDATE users SET email = $1, full_name = '', password_hash = NULL, deleted_at = $2, updated_at = $2 \
             WHERE id = $3 AND deleted_at IS NULL",
        )
        .bind(tombstone_email)
        .bind(at)
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?
        .rows_affected();
        if erased == 0 {
            return Ok(false);
        }
        // Personal data also sits in the payloads of this user's past
        // events; keep the facts, drop the data.
        ::sqlx::query("UPDATE outbox SET payload = $1 WHERE aggregate_id = $2 AND topic = 'user.registered'")
            .bind(::sqlx::types::Json(::serde_json::json!({ "user_id": id, "erased": true })))
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        for sql in ["DELETE FROM addresses WHERE user_id = $1", "DELETE FROM refresh_tokens WHERE user_id = $1"] {
            ::sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(store_error)?;
        }
        insert_event(&mut tx, event).await.map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        self.events_written();
        Ok(true)
    }

    async fn insert_refresh_token(
        &self,
        record: &::identity::tokens::RefreshTokenRecord,
    ) -> ::identity::store::StoreResult<()> {
        insert_token(&self.pool, record).await.map_err(store_error)
    }

    #[::tracing::instrument(skip_all)]
    async fn rotate_refresh_token(
        &self,
        presented: &[u8],
        next: &[u8],
        expires_at: ::time::OffsetDateTime,
        now: ::time::OffsetDateTime,
    ) -> ::identity::store::StoreResult<::identity::RotateOutcome> {
        use ::identity::RotateOutcome;
        use ::sqlx::Row as _;
        let mut tx = self.begin_write().await.map_err(store_error)?;
        // Spending is one conditional UPDATE: of two concurrent
        // refreshes with the same token exactly one sees a row.
        let spent = ::sqlx::query(
            "UPDATE refresh_tokens SET spent_at = $1 \
             WHERE token_hash = $2 AND spent_at IS NULL AND revoked_at IS NULL \
             RETURNING user_id, family_id, expires_at",
        )
        .bind(now)
        .bind(presented)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        if let Some(row) = spent {
            let user_id: ::uuid::Uuid = row.try_get("user_id").map_err(store_error)?;
            let family_id: ::uuid::Uuid = row.try_get("family_id").map_err(store_error)?;
            let old_expiry: ::time::OffsetDateTime = row.try_get("expires_at").map_err(store_error)?;
            if old_expiry <= now {
                tx.rollback().await.map_err(store_error)?;
                return Ok(RotateOutcome::Expired);
            }
            let record = ::identity::tokens::RefreshTokenRecord {
                id: ::kernel::new_id(),
                family_id,
                user_id,
                token_hash: next.to_vec(),
                created_at: now,
                expires_at,
            };
            insert_token(&mut *tx, &record).await.map_err(store_error)?;
            tx.commit().await.map_err(store_error)?;
            return Ok(RotateOutcome::Rotated { user_id, family_id });
        }
        let known = ::sqlx::query("SELECT user_id, family_id FROM refresh_tokens WHERE token_hash = $1")
            .bind(presented)
            .fetch_optional(&mut *tx)
            .await
            .map_err(store_error)?;
        let Some(row) = known else {
            return Ok(RotateOutcome::Unknown);
        };
        let user_id: ::uuid::Uuid = row.try_get("user_id").map_err(store_error)?;
        let family_id: ::uuid::Uuid = row.try_get("family_id").map_err(store_error)?;
        ::sqlx::query("UPDATE refresh_tokens SET revoked_at = $1 WHERE family_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(family_id)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(RotateOutcome::Reused { user_id })
    }

    async fn revoke_family_of(
        &self,
        presented: &[u8],
        now: ::time::OffsetDateTime,
    ) -> ::identity::store::StoreResult<bool> {
        let revoked = ::sqlx::query(
            "UPDATE refresh_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND family_id = \
             (SELECT family_id FROM refresh_tokens WHERE token_hash = $2)",
        )
        .bind(now)
        .bind(presented)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(revoked.rows_affected() > 0)
    }

    async fn session_user(
        &self,
        presented: &[u8],
        now: ::time::OffsetDateTime,
    ) -> ::identity::store::StoreResult<Option<::uuid::Uuid>> {
        use ::sqlx::Row as _;
        let row = ::sqlx::query(
            "SELECT user_id, expires_at FROM refresh_tokens \
             WHERE token_hash = $1 AND spent_at IS NULL AND revoked_at IS NULL",
        )
        .bind(presented)
        .fetch_optional(&self.pool)
        .await
        .map_err(store_error)?;
        let Some(row) = row else { return Ok(None) };
        let expires_at: ::time::OffsetDateTime = row.try_get("expires_at").map_err(store_error)?;
        if expires_at <= now {
            return Ok(None);
        }
        Ok(Some(row.try_get("user_id").map_err(store_error)?))
    }

    async fn addresses(&self, user_id: ::uuid::Uuid) -> ::identity::store::StoreResult<Vec<::identity::Address>> {
        let sql = format!("SELECT {ADDRESS_COLUMNS} FROM addresses WHERE user_id = $1 ORDER BY id");
        let rows =
            ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(user_id).fetch_all(&self.pool).await.map_err(store_error)?;
        rows.iter().map(address_from_row).collect::<Result<Vec<_>, _>>().map_err(store_error)
    }

    async fn save_address(&self, a: &::identity::Address) -> ::identity::store::StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(store_error)?;
        for (wanted, column) in
            [(a.is_default_shipping, "is_default_shipping"), (a.is_default_billing, "is_default_billing")]
        {
            if wanted {
                let sql = format!("UPDATE addresses SET {column} = FALSE WHERE user_id = $1 AND id <> $2 AND {column}");
                ::sqlx::query(::sqlx::AssertSqlSafe(sql))
                    .bind(a.user_id)
                    .bind(a.id)
                    .execute(&mut *tx)
                    .await
                    .map_err(store_error)?;
            }
        }
        ::sqlx::query(
            "INSERT INTO addresses (id, user_id, full_name, line1, line2, city, region, postal_code, country, \
             phone, is_default_shipping, is_default_billing, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (id) DO UPDATE SET full_name = excluded.full_name, line1 = excluded.line1, \
             line2 = excluded.line2, city = excluded.city, region = excluded.region, \
             postal_code = excluded.postal_code, country = excluded.country, phone = excluded.phone, \
             is_default_shipping = excluded.is_default_shipping, \
             is_default_billing = excluded.is_default_billing \
             WHERE addresses.user_id = excluded.user_id",
        )
        .bind(a.id)
        .bind(a.user_id)
        .bind(&a.full_name)
        .bind(&a.line1)
        .bind(&a.line2)
        .bind(&a.city)
        .bind(&a.region)
        .bind(&a.postal_code)
        .bind(&a.country)
        .bind(&a.phone)
        .bind(a.is_default_shipping)
        .bind(a.is_default_billing)
        .bind(a.created_at)
        .execute(&mut *tx)
        .await
        .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }

    async fn delete_address(&self, user_id: ::uuid::Uuid, id: ::uuid::Uuid) -> ::identity::store::StoreResult<bool> {
        use ::sqlx::Row as _;
        let mut tx = self.begin_write().await.map_err(store_error)?;
        let deleted = ::sqlx::query(
            "DELETE FROM addresses WHERE id = $1 AND user_id = $2 RETURNING is_default_shipping, is_default_billing",
        )
        .bind(id)
        .bind(user_id)
        .fetch_optional(&mut *tx)
        .await
        .map_err(store_error)?;
        let Some(row) = deleted else { return Ok(false) };
        for column in ["is_default_shipping", "is_default_billing"] {
            let was_default: bool = row.try_get(column).map_err(store_error)?;
            if was_default {
                // The oldest remaining address inherits the default.
                let sql = format!(
                    "UPDATE addresses SET {column} = TRUE WHERE id = \
                     (SELECT id FROM addresses WHERE user_id = $1 ORDER BY id LIMIT 1)"
                );
                ::sqlx::query(::sqlx::AssertSqlSafe(sql)).bind(user_id).execute(&mut *tx).await.map_err(store_error)?;
            }
        }
        tx.commit().await.map_err(store_error)?;
        Ok(true)
    }

    async fn ping(&self) -> ::identity::store::StoreResult<()> {
        ::sqlx::query("SELECT 1").execute(&self.pool).await.map_err(store_error)?;
        Ok(())
    }

    async fn signing_keys(
        &self,
        retired_after: ::time::OffsetDateTime,
    ) -> ::identity::store::StoreResult<Vec<::identity::SigningKeyRecord>> {
        use ::sqlx::Row as _;
        let rows = ::sqlx::query(
            "SELECT kid, private_key, created_at, retired_at FROM token_signing_keys \
             WHERE retired_at IS NULL OR retired_at > $1 ORDER BY created_at DESC",
        )
        .bind(retired_after)
        .fetch_all(&self.pool)
        .await
        .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(::identity::SigningKeyRecord {
                    kid: row.try_get("kid")?,
                    private_key: row.try_get("private_key")?,
                    created_at: row.try_get("created_at")?,
                    retired_at: row.try_get("retired_at")?,
                })
            })
            .collect::<::std::result::Result<_, ::sqlx::Error>>()
            .map_err(store_error)
    }

    async fn insert_first_signing_key(&self, key: &::identity::SigningKeyRecord) -> ::identity::store::StoreResult<()> {
        // The unique index on the current key makes a second first key a
        // no-op: two replicas starting together keep whichever came first.
        ::sqlx::query(
            "INSERT INTO token_signing_keys (kid, private_key, created_at) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
        )
        .bind(&key.kid)
        .bind(&key.private_key)
        .bind(key.created_at)
        .execute(&self.pool)
        .await
        .map_err(store_error)?;
        Ok(())
    }

    async fn rotate_signing_key(
        &self,
        key: &::identity::SigningKeyRecord,
        delete_retired_before: ::time::OffsetDateTime,
    ) -> ::identity::store::StoreResult<()> {
        let mut tx = self.begin_write().await.map_err(store_error)?;
        ::sqlx::query("UPDATE token_signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        ::sqlx::query("DELETE FROM token_signing_keys WHERE retired_at < $1")
            .bind(delete_retired_before)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        ::sqlx::query("INSERT INTO token_signing_keys (kid, private_key, created_at) VALUES ($1, $2, $3)")
            .bind(&key.kid)
            .bind(&key.private_key)
            .bind(key.created_at)
            .execute(&mut *tx)
            .await
            .map_err(store_error)?;
        tx.commit().await.map_err(store_error)?;
        Ok(())
    }
}
