//! Who the customer of a new interaction is: the profile known by the
//! address it comes from, made on first contact on the channels the center
//! keeps profiles for ([`CenterBuilder::create_customers`](crate::CenterBuilder::create_customers)),
//! and joined with the profile of any identity the customer proved on its
//! channel (`proven.<kind>` attributes, [`callcore::PROVEN_IDENTITY`]): the
//! proven identity is added to the profile, or the two profiles are merged
//! into the one known by the proven identity, so that one customer has one
//! history across channels.

use callcore::{
    Channel, CoreError, CustomerId, CustomerProfile, EventKind, IdentityKind, Interaction,
    PROVEN_IDENTITY,
};

use crate::center::Shared;

/// The kind of address an interaction of `channel` comes from.
pub(crate) fn kind_of(channel: Channel) -> IdentityKind {
    match channel {
        Channel::Email => IdentityKind::Email,
        Channel::Chat => IdentityKind::ChatId,
        Channel::WeChat => IdentityKind::WeChat,
        _ => IdentityKind::Phone,
    }
}

/// The identities the interaction's channel says the customer proved.
fn proven(interaction: &Interaction) -> Vec<(IdentityKind, String)> {
    interaction
        .attributes
        .iter()
        .filter_map(|(k, v)| {
            let kind = IdentityKind::from_name(k.strip_prefix(PROVEN_IDENTITY)?)?;
            let v = v.trim();
            (!v.is_empty()).then(|| (kind, v.to_owned()))
        })
        .collect()
}

/// Finds (or makes, or joins) the customer's profile and sets
/// `interaction.customer`. Store failures are logged: the interaction goes
/// on unidentified.
pub(crate) async fn identify(shared: &Shared, interaction: &mut Interaction) {
    match resolve(shared, interaction).await {
        Ok(found) => interaction.customer = found,
        Err(e) => tracing::warn!(error = %e, "customer look-up failed"),
    }
}

async fn resolve(
    shared: &Shared,
    interaction: &Interaction,
) -> Result<Option<CustomerId>, CoreError> {
    let customers = &shared.stores.customers;
    let tenant = &interaction.tenant;
    let kind = kind_of(interaction.channel);
    let from = interaction.from.expose().as_str();
    let mut current = customers.find_by_identity(tenant, kind, from).await?;
    let create = shared.create_customers.contains(&interaction.channel) && !from.is_empty();
    for (proven_kind, value) in proven(interaction) {
        let owner = customers
            .find_by_identity(tenant, proven_kind, &value)
            .await?;
        current = match (current.take(), owner) {
            // known under both: one customer now, the proven one kept
            (Some(a), Some(b)) if a.id != b.id => {
                tracing::info!(kept = %b.id, absorbed = %a.id, "customer profiles merged: an identity was proven");
                let merged = customers.merge(tenant, &b.id, &a.id).await?;
                shared.emitter.emit(
                    tenant,
                    EventKind::CustomersMerged {
                        kept: b.id.clone(),
                        absorbed: a.id.clone(),
                    },
                );
                Some(merged)
            }
            (Some(a), Some(_)) => Some(a),
            (Some(mut a), None) => {
                a.add_identity(proven_kind, &value);
                customers.save(&a).await?;
                Some(a)
            }
            (None, Some(mut b)) => {
                if !from.is_empty() {
                    b.add_identity(kind, from);
                    customers.save(&b).await?;
                }
                Some(b)
            }
            (None, None) if create => {
                let mut p = new_profile(shared, interaction, kind, from);
                p.add_identity(proven_kind, &value);
                customers.save(&p).await?;
                Some(p)
            }
            (None, None) => None,
        };
    }
    if current.is_none() && create {
        let p = new_profile(shared, interaction, kind, from);
        customers.save(&p).await?;
        tracing::debug!(customer = %p.id, channel = ?interaction.channel, "customer profile made on first contact");
        current = Some(p);
    }
    Ok(current.map(|p| p.id))
}

fn new_profile(
    shared: &Shared,
    interaction: &Interaction,
    kind: IdentityKind,
    from: &str,
) -> CustomerProfile {
    CustomerProfile::with_identity(
        CustomerId::new(format!("cus-{}", shared.ids.mint())),
        interaction.tenant.clone(),
        kind,
        from,
    )
}
