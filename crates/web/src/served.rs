//! Which services a process runs (`emporium serve --services …`): the same
//! code serves all of them in one process (the default) or any subset, so
//! the services can be deployed apart behind a gateway.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// One deployable service: its routes, and the background work that goes
/// with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    /// Accounts, sign-in, tokens and their keys, addresses.
    Identity,
    /// Products, categories, sellers, stores, reviews, wishlists, images, search.
    Catalog,
    /// Stock levels and their ledger.
    Inventory,
    /// Carts, checkout, orders, discounts, shipping and tax; the reservation
    /// sweeper.
    Orders,
    /// Payment status, confirmation, Solana verification, Stripe's webhook;
    /// the Solana poller.
    Payments,
    /// The notifications log and the sending of emails and texts.
    Notifications,
    /// The HTML pages of the shop and its admin.
    Storefront,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::Identity,
        Service::Catalog,
        Service::Inventory,
        Service::Orders,
        Service::Payments,
        Service::Notifications,
        Service::Storefront,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Catalog => "catalog",
            Service::Inventory => "inventory",
            Service::Orders => "orders",
            Service::Payments => "payments",
            Service::Notifications => "notifications",
            Service::Storefront => "storefront",
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Service {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let name = s.trim().to_ascii_lowercase();
        Service::ALL.into_iter().find(|service| service.as_str() == name).ok_or_else(|| {
            let known: Vec<&str> = Service::ALL.iter().map(|s| s.as_str()).collect();
            format!("unknown service {s:?}: expected one of {}", known.join(", "))
        })
    }
}

/// The services one process runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Served(BTreeSet<Service>);

impl Default for Served {
    fn default() -> Self {
        Served::all()
    }
}

impl Served {
    pub fn all() -> Served {
        Served(Service::ALL.into_iter().collect())
    }

    pub fn contains(&self, service: Service) -> bool {
        self.0.contains(&service)
    }

    pub fn is_all(&self) -> bool {
        self.0.len() == Service::ALL.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = Service> + '_ {
        self.0.iter().copied()
    }

    /// The services this process does not run.
    pub fn others(&self) -> impl Iterator<Item = Service> + '_ {
        Service::ALL.into_iter().filter(|s| !self.contains(*s))
    }
}

impl FromStr for Served {
    type Err = String;
    /// A comma-separated list (`catalog,inventory`); `all` for every one.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.trim().eq_ignore_ascii_case("all") {
            return Ok(Served::all());
        }
        let set = s.split(',').filter(|p| !p.trim().is_empty()).map(str::parse).collect::<Result<BTreeSet<_>, _>>()?;
        if set.is_empty() {
            return Err("name at least one service, or `all`".to_owned());
        }
        Ok(Served(set))
    }
}

impl fmt::Display for Served {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Service::as_str).collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_services_parses_and_prints_in_one_order() {
        let served: Served = "orders, Catalog,inventory".parse().expect("parse");
        assert_eq!(served.to_string(), "catalog,inventory,orders");
        assert!(served.contains(Service::Orders) && !served.contains(Service::Identity));
        assert!(!served.is_all());
        assert_eq!(
            served.others().map(Service::as_str).collect::<Vec<_>>(),
            ["identity", "payments", "notifications", "storefront"]
        );
        assert!("all".parse::<Served>().expect("all").is_all());
        assert_eq!(Served::default(), Served::all());
        let err = "catalog,shipping".parse::<Served>().expect_err("unknown");
        assert!(err.contains("unknown service \"shipping\"") && err.contains("identity, catalog"), "{err}");
        assert!(" , ".parse::<Served>().is_err());
    }
}
