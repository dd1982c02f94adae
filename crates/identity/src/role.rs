//! Roles and permissions. Code asks "may this role do `action` on
//! `resource`?", never "is this an admin?", so a new role is one table edit.

use serde::{Deserialize, Serialize};
use std::str::FromStr;
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Customer,
    Staff,
    Admin,
    Superadmin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resource {
    /// Customer accounts (read, suspend, change role between customer and staff).
    Users,
    /// Staff with elevated roles: granting or taking `admin`/`superadmin`.
    Admins,
    Products,
    Orders,
    Inventory,
    /// Discount codes, shipping methods and tax rates.
    Pricing,
    Settings,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Read,
    Write,
    Delete,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Customer, Role::Staff, Role::Admin, Role::Superadmin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Customer => "customer",
            Role::Staff => "staff",
            Role::Admin => "admin",
            Role::Superadmin => "superadmin",
        }
    }

    /// The permission table. Customers act only on their own data, which is
    /// checked by ownership, not here.
    pub fn allows(self, resource: Resource, action: Action) -> bool {
        use {Action::*, Resource::*};
        match self {
            Role::Customer => false,
            Role::Staff => matches!(
                (resource, action),
                (Orders | Inventory, Read | Write) | (Products, Read | Write) | (Users, Read)
            ),
            Role::Admin => !matches!(resource, Admins | Settings),
            Role::Superadmin => true,
        }
    }

    /// Roles whose holders are managed under `Resource::Admins`.
    pub fn is_elevated(self) -> bool {
        matches!(self, Role::Admin | Role::Superadmin)
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("must be one of customer, staff, admin, superadmin")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or(UnknownRole)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_table() {
        use Action::*;
        use Resource::*;
        let resources = [Users, Admins, Products, Orders, Inventory, Settings];
        for r in resources {
            for a in [Read, Write, Delete] {
                assert!(!Role::Customer.allows(r, a));
                assert!(Role::Superadmin.allows(r, a));
            }
        }
        assert!(Role::Staff.allows(Orders, Write));
        assert!(Role::Staff.allows(Products, Write));
        assert!(!Role::Staff.allows(Products, Delete));
        assert!(!Role::Staff.allows(Users, Write));
        assert!(Role::Admin.allows(Users, Write));
        assert!(Role::Admin.allows(Products, Delete));
        assert!(!Role::Admin.allows(Admins, Write));
        assert!(!Role::Admin.allows(Settings, Read));
    }

    #[test]
    fn names_round_trip() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole));
    }
}
