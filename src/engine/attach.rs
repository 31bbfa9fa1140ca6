//! The merged pass behind [`super::Attach`]: children are read newest first alongside their
//! parents, buffered by parent id only until their parent's page comes by. A parent page whose
//! oldest parent was created at `t` needs children back to `t`, since no child predates its
//! parent; so the children's listing is read once, in step, whatever the number of parents.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::context::Context;
use super::cursor::timestamp;
use super::pages::Listing;
use super::shared::Pages;
use super::{Attach, Envelope};
use crate::error::Result;

pub struct Attacher {
    spec: &'static Attach,
    pager: Pages,
    by_parent: HashMap<String, Vec<Value>>,
    /// The oldest child read so far.
    reached: Option<DateTime<Utc>>,
    ended: bool,
}

impl Attacher {
    pub fn new(ctx: &Context, stream: &'static str, spec: &'static Attach) -> Attacher {
        let listing = Listing {
            stream,
            path: spec.path.to_owned(),
            params: Vec::new(),
            envelope: Envelope::Data,
        };
        Attacher {
            spec,
            pager: ctx.listings.pages(&ctx.client, listing),
            by_parent: HashMap::new(),
            reached: None,
            ended: false,
        }
    }

    /// Reads children until every child of the parents in `page` has been seen.
    pub async fn prepare(&mut self, page: &[&Value]) -> Result<()> {
        let Some(oldest) = page
            .iter()
            .filter_map(|p| timestamp(p, self.spec.created_field))
            .min()
        else {
            return Ok(());
        };
        // Ids order by the second, so allow a second of disorder.
        let needed = oldest - Duration::seconds(1);
        while !self.ended && self.reached.is_none_or(|r| r >= needed) {
            let Some(children) = self.pager.next().await? else {
                self.ended = true;
                break;
            };
            if children.items.is_empty() {
                self.ended = true;
            }
            for child in children.items {
                if let Some(t) = timestamp(&child, self.spec.created_field) {
                    self.reached = Some(self.reached.map_or(t, |r| r.min(t)));
                }
                if let Some(parent) = child.get(self.spec.parent_field).and_then(Value::as_str) {
                    self.by_parent
                        .entry(parent.to_owned())
                        .or_default()
                        .push(child);
                }
            }
        }
        Ok(())
    }

    /// Moves the buffered children of `parent` into it, unless the API already sent that field:
    /// a value the API sends is never replaced.
    pub fn attach(&mut self, parent: &mut Value) {
        let id = parent.get("id").and_then(Value::as_str).unwrap_or_default();
        let children = self.by_parent.remove(id).unwrap_or_default();
        if let Some(parent) = parent.as_object_mut() {
            if parent.get(self.spec.into).is_none_or(Value::is_null) {
                parent.insert(self.spec.into.into(), Value::Array(children));
            }
        }
    }
}
