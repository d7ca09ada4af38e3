//! Styles (a prompt template with parameters and models that requests name), their example
//! images, and collections of styles (`crate::horde::styles` has the rules). [`Styles`] holds
//! the methods whose SQL is the same on both databases; recording a use, which may move kudos,
//! is `Store::record_style_use`.

use super::*;

/// A style as stored, with its creator's name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StyleRow {
    pub id: String,
    /// `text` or `image`.
    pub kind: String,
    pub user_id: i64,
    pub creator_name: String,
    pub name: String,
    pub info: Option<String>,
    pub prompt: String,
    pub params: Json<serde_json::Value>,
    pub public: bool,
    pub nsfw: bool,
    /// The shared key that pays for requests made with it, if any.
    pub shared_key_id: Option<i64>,
    pub use_count: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

impl StyleRow {
    /// The creator's unique public name, `name#id`.
    pub fn creator(&self) -> String {
        format!("{}#{}", self.creator_name, self.user_id)
    }

    /// The style's unique name, as collections and user details list it.
    pub fn unique_name(&self) -> String {
        format!("{}::style::{}", self.creator(), self.name)
    }
}

#[derive(Debug, Clone)]
pub struct NewStyle {
    pub id: String,
    pub kind: String,
    pub user_id: i64,
    pub name: String,
    pub info: Option<String>,
    pub prompt: String,
    pub params: serde_json::Value,
    pub public: bool,
    pub nsfw: bool,
    pub shared_key_id: Option<i64>,
    pub models: Vec<String>,
    pub tags: Vec<String>,
    pub now: i64,
}

/// An owner's change to a style: each `Some` replaces what is stored.
#[derive(Debug, Clone, Default)]
pub struct StyleChange {
    pub name: Option<String>,
    pub info: Option<String>,
    pub prompt: Option<String>,
    pub params: Option<serde_json::Value>,
    pub public: Option<bool>,
    pub nsfw: Option<bool>,
    pub shared_key_id: Option<i64>,
    pub models: Option<Vec<String>>,
    pub tags: Option<Vec<String>>,
    pub now: i64,
}

#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StyleExampleRow {
    pub id: String,
    pub style_id: String,
    pub url: String,
    pub is_primary: bool,
    pub created_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StyleOrder {
    /// Most used first.
    Popular,
    /// Oldest first.
    Age,
}

/// What a style listing asks for.
#[derive(Debug, Clone)]
pub struct StyleFilter<'a> {
    pub kind: &'a str,
    pub order: StyleOrder,
    pub tag: Option<&'a str>,
    pub model: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

/// A collection as stored, with its creator's name.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct CollectionRow {
    pub id: String,
    pub kind: String,
    pub user_id: i64,
    pub creator_name: String,
    pub name: String,
    pub info: Option<String>,
    pub public: bool,
    pub use_count: i64,
    pub created_at: i64,
}

impl CollectionRow {
    pub fn creator(&self) -> String {
        format!("{}#{}", self.creator_name, self.user_id)
    }
}

#[derive(Debug, Clone)]
pub struct NewCollection {
    pub id: String,
    pub kind: String,
    pub user_id: i64,
    pub name: String,
    pub info: Option<String>,
    pub public: bool,
    /// The style ids, in order.
    pub styles: Vec<String>,
    pub now: i64,
}

#[derive(Debug, Clone, Default)]
pub struct CollectionChange {
    pub name: Option<String>,
    pub info: Option<String>,
    pub public: Option<bool>,
    /// The style ids, in order, replacing the collection's.
    pub styles: Option<Vec<String>>,
}

/// A request made with a style: its use is counted, and a requester who is not the style's
/// creator pays the creator a fee, if they have it (`Store::record_style_use`).
#[derive(Debug, Clone)]
pub struct StyleUse {
    pub style_id: String,
    /// The collection the style was picked from, if any.
    pub collection_id: Option<String>,
    pub requester: i64,
    pub creator: i64,
    pub fee: Kudos,
    pub now: i64,
}

macro_rules! style_select {
    () => {
        "SELECT s.id, s.kind, s.user_id, u.username AS creator_name, s.name, s.info, s.prompt, \
         s.params, s.public, s.nsfw, s.shared_key_id, s.use_count, s.created_at, s.updated_at \
         FROM styles s JOIN users u ON u.id = s.user_id"
    };
}
pub(crate) use style_select;

macro_rules! collection_select {
    () => {
        "SELECT c.id, c.kind, c.user_id, u.username AS creator_name, c.name, c.info, c.public, \
         c.use_count, c.created_at FROM style_collections c JOIN users u ON u.id = c.user_id"
    };
}
pub(crate) use collection_select;

/// A style listing's filters: the kind, public only, and optionally a tag and a model.
macro_rules! listed_styles {
    () => {
        " WHERE s.kind = $1 AND s.public = TRUE \
          AND ($2 IS NULL OR EXISTS (SELECT 1 FROM style_tags t \
                                     WHERE t.style_id = s.id AND t.tag = $2)) \
          AND ($3 IS NULL OR EXISTS (SELECT 1 FROM style_models m \
                                     WHERE m.style_id = s.id AND m.model = $3))"
    };
}
pub(crate) use listed_styles;

/// Deletes an erased account's styles and collections (with their models, tags, examples and
/// members): they carry its name.
pub const DELETE_STYLES_OF_USER: &str = "DELETE FROM styles WHERE user_id = $1";
pub const DELETE_COLLECTIONS_OF_USER: &str = "DELETE FROM style_collections WHERE user_id = $1";
/// Counts a use of style `$1`.
pub const COUNT_STYLE_USE: &str = "UPDATE styles SET use_count = use_count + 1 WHERE id = $1";
/// Counts a use of collection `$1`.
pub const COUNT_COLLECTION_USE: &str =
    "UPDATE style_collections SET use_count = use_count + 1 WHERE id = $1";

#[async_trait]
pub trait Styles: Send + Sync + 'static {
    /// Stores a style with its models and tags; a name its creator already uses is refused.
    async fn insert_style(&self, style: &NewStyle) -> Result<()>;
    async fn update_style(&self, id: &str, change: &StyleChange) -> Result<()>;
    async fn delete_style(&self, id: &str) -> Result<()>;
    async fn style(&self, id: &str) -> Result<Option<StyleRow>>;
    /// The oldest style of this name (of `user_id`'s, when given).
    async fn style_by_name(&self, name: &str, user_id: Option<i64>) -> Result<Option<StyleRow>>;
    /// A page of the public styles of a kind.
    async fn styles_listed(&self, filter: &StyleFilter<'_>) -> Result<Vec<StyleRow>>;
    async fn styles_of(&self, user_id: i64) -> Result<Vec<StyleRow>>;
    async fn style_models(&self, id: &str) -> Result<Vec<String>>;
    async fn style_tags(&self, id: &str) -> Result<Vec<String>>;

    /// The style's examples, oldest first.
    async fn style_examples(&self, style_id: &str) -> Result<Vec<StyleExampleRow>>;
    /// Adds an example; a primary one takes the place of the previous primary.
    async fn add_style_example(&self, example: &StyleExampleRow) -> Result<()>;
    /// Changes an example's url (when given) and whether it is the primary one.
    async fn update_style_example(
        &self,
        style_id: &str,
        example_id: &str,
        url: Option<&str>,
        primary: bool,
    ) -> Result<()>;
    /// Deletes an example; if it was the primary one, the oldest left becomes primary.
    async fn delete_style_example(&self, style_id: &str, example_id: &str) -> Result<()>;

    async fn insert_collection(&self, collection: &NewCollection) -> Result<()>;
    async fn update_collection(&self, id: &str, change: &CollectionChange) -> Result<()>;
    async fn delete_collection(&self, id: &str) -> Result<()>;
    async fn collection(&self, id: &str) -> Result<Option<CollectionRow>>;
    async fn collection_by_name(
        &self,
        name: &str,
        user_id: Option<i64>,
    ) -> Result<Option<CollectionRow>>;
    /// A page of the public collections, of one kind or all.
    async fn collections_listed(
        &self,
        kind: Option<&str>,
        order: StyleOrder,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<CollectionRow>>;
    async fn collections_of(&self, user_id: i64) -> Result<Vec<CollectionRow>>;
    /// The styles of a collection, in its order.
    async fn collection_styles(&self, id: &str) -> Result<Vec<StyleRow>>;
}

/// Implements [`Styles`] for a store with `reader()` and `writer()`.
macro_rules! impl_styles {
    ($store:ty) => {
        #[async_trait]
        impl $crate::store::Styles for $store {
            async fn insert_style(&self, s: &NewStyle) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO styles (id, kind, user_id, name, info, prompt, params, public, \
                     nsfw, shared_key_id, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11)",
                )
                .bind(&s.id)
                .bind(&s.kind)
                .bind(s.user_id)
                .bind(&s.name)
                .bind(s.info.as_deref())
                .bind(&s.prompt)
                .bind(Json(&s.params))
                .bind(s.public)
                .bind(s.nsfw)
                .bind(s.shared_key_id)
                .bind(s.now)
                .execute(&mut *tx)
                .await;
                $crate::store::styles::name_taken(inserted)?;
                for model in &s.models {
                    sqlx::query("INSERT INTO style_models (style_id, model) VALUES ($1, $2)")
                        .bind(&s.id)
                        .bind(model)
                        .execute(&mut *tx)
                        .await?;
                }
                for tag in &s.tags {
                    sqlx::query("INSERT INTO style_tags (style_id, tag) VALUES ($1, $2)")
                        .bind(&s.id)
                        .bind(tag)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn update_style(&self, id: &str, c: &StyleChange) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                let updated = sqlx::query(
                    "UPDATE styles SET name = COALESCE($2, name), info = COALESCE($3, info), \
                     prompt = COALESCE($4, prompt), params = COALESCE($5, params), \
                     public = COALESCE($6, public), nsfw = COALESCE($7, nsfw), \
                     shared_key_id = COALESCE($8, shared_key_id), updated_at = $9 \
                     WHERE id = $1",
                )
                .bind(id)
                .bind(c.name.as_deref())
                .bind(c.info.as_deref())
                .bind(c.prompt.as_deref())
                .bind(c.params.as_ref().map(Json))
                .bind(c.public)
                .bind(c.nsfw)
                .bind(c.shared_key_id)
                .bind(c.now)
                .execute(&mut *tx)
                .await;
                $crate::store::styles::name_taken(updated)?;
                if let Some(models) = &c.models {
                    sqlx::query("DELETE FROM style_models WHERE style_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for model in models {
                        sqlx::query("INSERT INTO style_models (style_id, model) VALUES ($1, $2)")
                            .bind(id)
                            .bind(model)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                if let Some(tags) = &c.tags {
                    sqlx::query("DELETE FROM style_tags WHERE style_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    for tag in tags {
                        sqlx::query("INSERT INTO style_tags (style_id, tag) VALUES ($1, $2)")
                            .bind(id)
                            .bind(tag)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                tx.commit().await?;
                Ok(())
            }

            async fn delete_style(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM styles WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn style(&self, id: &str) -> Result<Option<StyleRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::style_select!(),
                    " WHERE s.id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn style_by_name(
                &self,
                name: &str,
                user_id: Option<i64>,
            ) -> Result<Option<StyleRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::style_select!(),
                    " WHERE s.name = $1 AND ($2 IS NULL OR s.user_id = $2) \
                     ORDER BY s.created_at, s.id LIMIT 1"
                ))
                .bind(name)
                .bind(user_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn styles_listed(&self, f: &StyleFilter<'_>) -> Result<Vec<StyleRow>> {
                let sql = match f.order {
                    StyleOrder::Popular => concat!(
                        $crate::store::styles::style_select!(),
                        $crate::store::styles::listed_styles!(),
                        " ORDER BY s.use_count DESC, s.created_at, s.id LIMIT $4 OFFSET $5"
                    ),
                    StyleOrder::Age => concat!(
                        $crate::store::styles::style_select!(),
                        $crate::store::styles::listed_styles!(),
                        " ORDER BY s.created_at, s.id LIMIT $4 OFFSET $5"
                    ),
                };
                Ok(sqlx::query_as(sql)
                    .bind(f.kind)
                    .bind(f.tag)
                    .bind(f.model)
                    .bind(f.limit)
                    .bind(f.offset)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn styles_of(&self, user_id: i64) -> Result<Vec<StyleRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::style_select!(),
                    " WHERE s.user_id = $1 ORDER BY s.created_at, s.id"
                ))
                .bind(user_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn style_models(&self, id: &str) -> Result<Vec<String>> {
                Ok(sqlx::query_scalar(
                    "SELECT model FROM style_models WHERE style_id = $1 ORDER BY model",
                )
                .bind(id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn style_tags(&self, id: &str) -> Result<Vec<String>> {
                Ok(
                    sqlx::query_scalar("SELECT tag FROM style_tags WHERE style_id = $1 ORDER BY tag")
                        .bind(id)
                        .fetch_all(self.reader())
                        .await?,
                )
            }

            async fn style_examples(&self, style_id: &str) -> Result<Vec<StyleExampleRow>> {
                Ok(sqlx::query_as(
                    "SELECT id, style_id, url, is_primary, created_at FROM style_examples \
                     WHERE style_id = $1 ORDER BY created_at, id",
                )
                .bind(style_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn add_style_example(&self, e: &StyleExampleRow) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                if e.is_primary {
                    sqlx::query("UPDATE style_examples SET is_primary = FALSE WHERE style_id = $1")
                        .bind(&e.style_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "INSERT INTO style_examples (id, style_id, url, is_primary, created_at) \
                     VALUES ($1, $2, $3, $4, $5)",
                )
                .bind(&e.id)
                .bind(&e.style_id)
                .bind(&e.url)
                .bind(e.is_primary)
                .bind(e.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn update_style_example(
                &self,
                style_id: &str,
                example_id: &str,
                url: Option<&str>,
                primary: bool,
            ) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                if primary {
                    sqlx::query("UPDATE style_examples SET is_primary = FALSE WHERE style_id = $1")
                        .bind(style_id)
                        .execute(&mut *tx)
                        .await?;
                }
                sqlx::query(
                    "UPDATE style_examples SET url = COALESCE($3, url), is_primary = $4 \
                     WHERE id = $1 AND style_id = $2",
                )
                .bind(example_id)
                .bind(style_id)
                .bind(url)
                .bind(primary)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_style_example(&self, style_id: &str, example_id: &str) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                sqlx::query("DELETE FROM style_examples WHERE id = $1 AND style_id = $2")
                    .bind(example_id)
                    .bind(style_id)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query(
                    "UPDATE style_examples SET is_primary = TRUE WHERE id = \
                     (SELECT id FROM style_examples WHERE style_id = $1 \
                      ORDER BY created_at, id LIMIT 1) \
                     AND NOT EXISTS (SELECT 1 FROM style_examples \
                                     WHERE style_id = $1 AND is_primary = TRUE)",
                )
                .bind(style_id)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn insert_collection(&self, c: &NewCollection) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO style_collections (id, kind, user_id, name, info, public, \
                     created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&c.id)
                .bind(&c.kind)
                .bind(c.user_id)
                .bind(&c.name)
                .bind(c.info.as_deref())
                .bind(c.public)
                .bind(c.now)
                .execute(&mut *tx)
                .await;
                $crate::store::styles::name_taken(inserted)?;
                $crate::store::styles::put_members!(tx, &c.id, &c.styles);
                tx.commit().await?;
                Ok(())
            }

            async fn update_collection(&self, id: &str, c: &CollectionChange) -> Result<()> {
                let mut tx = self.writer().begin().await?;
                let updated = sqlx::query(
                    "UPDATE style_collections SET name = COALESCE($2, name), \
                     info = COALESCE($3, info), public = COALESCE($4, public) WHERE id = $1",
                )
                .bind(id)
                .bind(c.name.as_deref())
                .bind(c.info.as_deref())
                .bind(c.public)
                .execute(&mut *tx)
                .await;
                $crate::store::styles::name_taken(updated)?;
                if let Some(styles) = &c.styles {
                    sqlx::query("DELETE FROM style_collection_members WHERE collection_id = $1")
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                    $crate::store::styles::put_members!(tx, id, styles);
                }
                tx.commit().await?;
                Ok(())
            }

            async fn delete_collection(&self, id: &str) -> Result<()> {
                sqlx::query("DELETE FROM style_collections WHERE id = $1")
                    .bind(id)
                    .execute(self.writer())
                    .await?;
                Ok(())
            }

            async fn collection(&self, id: &str) -> Result<Option<CollectionRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::collection_select!(),
                    " WHERE c.id = $1"
                ))
                .bind(id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn collection_by_name(
                &self,
                name: &str,
                user_id: Option<i64>,
            ) -> Result<Option<CollectionRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::collection_select!(),
                    " WHERE c.name = $1 AND ($2 IS NULL OR c.user_id = $2) \
                     ORDER BY c.created_at, c.id LIMIT 1"
                ))
                .bind(name)
                .bind(user_id)
                .fetch_optional(self.reader())
                .await?)
            }

            async fn collections_listed(
                &self,
                kind: Option<&str>,
                order: StyleOrder,
                offset: i64,
                limit: i64,
            ) -> Result<Vec<CollectionRow>> {
                let sql = match order {
                    StyleOrder::Popular => concat!(
                        $crate::store::styles::collection_select!(),
                        " WHERE c.public = TRUE AND ($1 IS NULL OR c.kind = $1) \
                         ORDER BY c.use_count DESC, c.created_at, c.id LIMIT $2 OFFSET $3"
                    ),
                    StyleOrder::Age => concat!(
                        $crate::store::styles::collection_select!(),
                        " WHERE c.public = TRUE AND ($1 IS NULL OR c.kind = $1) \
                         ORDER BY c.created_at, c.id LIMIT $2 OFFSET $3"
                    ),
                };
                Ok(sqlx::query_as(sql)
                    .bind(kind)
                    .bind(limit)
                    .bind(offset)
                    .fetch_all(self.reader())
                    .await?)
            }

            async fn collections_of(&self, user_id: i64) -> Result<Vec<CollectionRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::collection_select!(),
                    " WHERE c.user_id = $1 ORDER BY c.created_at, c.id"
                ))
                .bind(user_id)
                .fetch_all(self.reader())
                .await?)
            }

            async fn collection_styles(&self, id: &str) -> Result<Vec<StyleRow>> {
                Ok(sqlx::query_as(concat!(
                    $crate::store::styles::style_select!(),
                    " JOIN style_collection_members m ON m.style_id = s.id \
                     WHERE m.collection_id = $1 ORDER BY m.position"
                ))
                .bind(id)
                .fetch_all(self.reader())
                .await?)
            }
        }
    };
}

pub(super) use impl_styles;

/// Writes a collection's members in order, in the transaction `$tx`.
macro_rules! put_members {
    ($tx:ident, $collection:expr, $styles:expr) => {
        for (position, style) in $styles.iter().enumerate() {
            sqlx::query(
                "INSERT INTO style_collection_members (collection_id, style_id, position) \
                 VALUES ($1, $2, $3)",
            )
            .bind($collection)
            .bind(style)
            .bind(position as i64)
            .execute(&mut *$tx)
            .await?;
        }
    };
}
pub(crate) use put_members;

/// A style or collection name its creator already uses, refused as the AI Horde refuses it.
pub fn name_taken<T>(result: std::result::Result<T, sqlx::Error>) -> Result<()> {
    match result {
        Err(e)
            if e.as_database_error()
                .is_some_and(|e| e.is_unique_violation()) =>
        {
            Err(crate::error::Rejection::invalid_field(
                "name",
                "BadRequest",
                "You already have a style or collection of this name; pick another",
            )
            .into())
        }
        other => other.map(|_| ()).map_err(crate::error::CoreError::from),
    }
}
