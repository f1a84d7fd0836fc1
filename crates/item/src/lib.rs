//! The service item (政务服务事项) this deployment runs, read from `deploy/service-item.toml`.
//!
//! Services act on it rather than on constants: the time limits, the channels offered, the
//! delivery options and the required materials all come from here. Loading checks every field
//! and names the first bad one.

use std::path::Path;

use serde::Deserialize;

/// Why a service item definition cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error("cannot read service item file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("service item is not valid TOML or misses a field: {0}")]
    Parse(#[from] toml::de::Error),
    #[error("service item field `{field}` {problem}")]
    Invalid {
        field: &'static str,
        problem: String,
    },
}

/// The whole definition.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServiceItem {
    pub name: String,
    pub kind: String,
    pub commitment_item: bool,
    pub exercise_level: String,
    pub power_source: String,
    pub handling_scope: String,
    pub result_name: String,
    pub codes: Codes,
    pub implementing_body: ImplementingBody,
    pub time_limits: TimeLimits,
    pub channels: Channels,
    pub fee: Fee,
    pub delivery: Delivery,
    pub stages: Vec<Stage>,
    pub materials: Vec<Material>,
    pub legal_basis: LegalBasis,
    /// Rules that differ between places; each has the default DOMAIN.md documents.
    #[serde(default)]
    pub rules: residence_rules::Switches,
}

/// Catalogue codes; treated as opaque strings.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Codes {
    /// 实施编码.
    pub implementation: String,
    /// 业务办理项编码.
    pub business_item: String,
    /// 地方实施编码.
    pub local_implementation: String,
}

/// 实施主体.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImplementingBody {
    pub name: String,
    /// 统一社会信用代码, 18 characters.
    pub credit_code: String,
    pub region_code: String,
    pub address: String,
    /// Place names a residence address must contain to be endorsed here.
    pub jurisdiction: Vec<String>,
    /// 签发机关 written on the permit.
    pub issuing_authority: String,
    /// The towns (乡镇) of the jurisdiction, each with its own review queue; the first is the
    /// body's own town. Left out, the whole county is one queue under its region code.
    #[serde(default)]
    pub towns: Vec<Town>,
}

/// A town (乡镇, 街道) whose staff work its own cases.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Town {
    /// 9-digit division code: the county's region code and the town's three digits.
    pub code: String,
    /// The name residence addresses carry, such as `五沟营镇`.
    pub name: String,
}

/// 法定 and 承诺 time limits.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeLimits {
    /// 法定办理时限, working days.
    pub legal_working_days: u32,
    /// 承诺办理时限, working days; never longer than the legal limit.
    pub promised_working_days: u32,
    /// Working days to follow up a dissatisfied rating (差评整改), counted from the day after
    /// the rating.
    #[serde(default = "default_follow_up_working_days")]
    pub follow_up_working_days: u32,
}

fn default_follow_up_working_days() -> u32 {
    5
}

/// Channels offered.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Channels {
    pub window: bool,
    pub online: bool,
    pub self_service_terminal: bool,
    pub online_depth: Vec<String>,
    pub max_on_site_visits: u32,
    pub appointment: bool,
}

/// 收费信息.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fee {
    pub charged: bool,
    pub legal_basis: String,
}

/// Delivery options of the result.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Delivery {
    pub pickup: bool,
    /// 是否支持物流快递.
    pub courier: bool,
    /// The logistics partners this county works with, in order of preference. New courier
    /// deliveries go to the first enabled one.
    #[serde(default)]
    pub partners: Vec<Partner>,
}

/// A logistics partner (物流合作方) and whether it takes new parcels.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Partner {
    /// The partner's code: its token in NATS subjects and consumer names, such as `ems`.
    pub code: String,
    /// The partner's name, for operators.
    pub name: String,
    /// A disabled partner gets no new waybills; the parcels it already carries are still
    /// followed to the end.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
}

fn enabled_by_default() -> bool {
    true
}

/// One stage of the procedure.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    pub code: String,
    pub name: String,
}

/// When a material is required.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Requirement {
    /// Every application.
    Always,
    /// One of the proofs of residence, employment or study.
    OneOfProofs,
    /// Only when an agent submits.
    WithAgent,
}

/// One material of the 申请材料 list.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Material {
    pub code: String,
    pub name: String,
    pub form: String,
    pub basis: String,
    pub required: Requirement,
}

/// Legal provisions cited in decisions.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LegalBasis {
    pub endorsement: String,
    pub address_change: String,
    pub denial: String,
}

/// The stage codes the services implement, in order.
pub const STAGE_CODES: [&str; 5] = ["receive", "accept", "review", "decide", "deliver"];

impl ServiceItem {
    /// Reads and validates the definition at `path`.
    pub fn load(path: &Path) -> Result<Self, ItemError> {
        let text = std::fs::read_to_string(path).map_err(|source| ItemError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses and validates a definition.
    pub fn parse(text: &str) -> Result<Self, ItemError> {
        let item: ServiceItem = toml::from_str(text)?;
        item.validate()?;
        Ok(item)
    }

    /// The town whose staff work a case at `residence_address`: the first listed town the
    /// address names, else the body's own town (the first listed), else the whole county.
    pub fn town_for(&self, residence_address: &str) -> Town {
        let body = &self.implementing_body;
        body.towns
            .iter()
            .find(|town| residence_address.contains(town.name.as_str()))
            .or_else(|| body.towns.first())
            .cloned()
            .unwrap_or_else(|| Town {
                code: body.region_code.clone(),
                name: body.name.clone(),
            })
    }

    /// Whether the applicant may choose courier delivery.
    pub fn offers_courier(&self) -> bool {
        self.delivery.courier
    }

    /// The partner that gets new courier deliveries: the first enabled one, when the item
    /// offers courier delivery.
    pub fn courier_partner(&self) -> Option<&Partner> {
        if !self.offers_courier() {
            return None;
        }
        self.delivery
            .partners
            .iter()
            .find(|partner| partner.enabled)
    }

    fn validate(&self) -> Result<(), ItemError> {
        not_blank("name", &self.name)?;
        not_blank("kind", &self.kind)?;
        not_blank("result_name", &self.result_name)?;
        alphanumeric("codes.implementation", &self.codes.implementation, 20..=40)?;
        alphanumeric("codes.business_item", &self.codes.business_item, 20..=40)?;
        alphanumeric(
            "codes.local_implementation",
            &self.codes.local_implementation,
            8..=40,
        )?;
        self.validate_body()?;
        self.validate_time_limits()?;
        self.validate_channels_and_delivery()?;
        self.validate_stages()?;
        self.validate_materials()?;
        if let Some(months) = self.rules.reregister_after_months_late
            && !(1..=120).contains(&months)
        {
            return invalid(
                "rules.reregister_after_months_late",
                "must be between 1 and 120 when set",
            );
        }
        not_blank("legal_basis.endorsement", &self.legal_basis.endorsement)?;
        not_blank(
            "legal_basis.address_change",
            &self.legal_basis.address_change,
        )?;
        not_blank("legal_basis.denial", &self.legal_basis.denial)
    }

    fn validate_body(&self) -> Result<(), ItemError> {
        let body = &self.implementing_body;
        not_blank("implementing_body.name", &body.name)?;
        alphanumeric("implementing_body.credit_code", &body.credit_code, 18..=18)?;
        if body.region_code.len() != 6 || !body.region_code.bytes().all(|b| b.is_ascii_digit()) {
            return invalid("implementing_body.region_code", "must be 6 digits");
        }
        not_blank(
            "implementing_body.issuing_authority",
            &body.issuing_authority,
        )?;
        if body.jurisdiction.is_empty() || body.jurisdiction.iter().any(|p| p.trim().is_empty()) {
            return invalid(
                "implementing_body.jurisdiction",
                "must list at least one place name",
            );
        }
        for (index, town) in body.towns.iter().enumerate() {
            let in_county = town.code.len() == 9
                && town.code.bytes().all(|b| b.is_ascii_digit())
                && town.code.starts_with(&body.region_code);
            if !in_county {
                return invalid(
                    "implementing_body.towns.code",
                    &format!(
                        "must be 9 digits starting with the region code, got {:?}",
                        town.code
                    ),
                );
            }
            not_blank("implementing_body.towns.name", &town.name)?;
            if body.towns[..index]
                .iter()
                .any(|earlier| earlier.code == town.code)
            {
                return invalid(
                    "implementing_body.towns.code",
                    &format!("must be unique, {:?} is listed twice", town.code),
                );
            }
        }
        Ok(())
    }

    fn validate_time_limits(&self) -> Result<(), ItemError> {
        let limits = &self.time_limits;
        if !(1..=60).contains(&limits.legal_working_days) {
            return invalid("time_limits.legal_working_days", "must be between 1 and 60");
        }
        if limits.promised_working_days == 0
            || limits.promised_working_days > limits.legal_working_days
        {
            return invalid(
                "time_limits.promised_working_days",
                "must be at least 1 and at most legal_working_days",
            );
        }
        if !(1..=30).contains(&limits.follow_up_working_days) {
            return invalid(
                "time_limits.follow_up_working_days",
                "must be between 1 and 30",
            );
        }
        Ok(())
    }

    fn validate_channels_and_delivery(&self) -> Result<(), ItemError> {
        let channels = &self.channels;
        if !(channels.window || channels.online || channels.self_service_terminal) {
            return invalid("channels", "must offer at least one channel");
        }
        if !(self.delivery.pickup || self.delivery.courier) {
            return invalid("delivery", "must offer pickup or courier");
        }
        self.validate_partners()
    }

    fn validate_partners(&self) -> Result<(), ItemError> {
        let partners = &self.delivery.partners;
        for (index, partner) in partners.iter().enumerate() {
            let code = partner.code.as_str();
            let token_ok = !code.is_empty()
                && code.len() <= 32
                && code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            if !token_ok {
                return invalid(
                    "delivery.partners.code",
                    &format!("must be 1 to 32 lowercase letters, digits or '_', got {code:?}"),
                );
            }
            if partners[..index].iter().any(|earlier| earlier.code == code) {
                return invalid(
                    "delivery.partners.code",
                    &format!("must be unique, {code:?} is listed twice"),
                );
            }
            not_blank("delivery.partners.name", &partner.name)?;
        }
        if self.delivery.courier && !partners.iter().any(|partner| partner.enabled) {
            return invalid(
                "delivery.partners",
                "must enable at least one partner while courier delivery is offered",
            );
        }
        Ok(())
    }

    fn validate_stages(&self) -> Result<(), ItemError> {
        let codes: Vec<&str> = self
            .stages
            .iter()
            .map(|stage| stage.code.as_str())
            .collect();
        if codes != STAGE_CODES {
            return invalid(
                "stages",
                &format!("must be, in order, {}", STAGE_CODES.join(", ")),
            );
        }
        if self.stages.iter().any(|stage| stage.name.trim().is_empty()) {
            return invalid("stages.name", "must not be empty");
        }
        Ok(())
    }

    fn validate_materials(&self) -> Result<(), ItemError> {
        const KNOWN: [&str; 7] = [
            "residence_permit",
            "id_card",
            "proof_of_residence",
            "proof_of_employment",
            "proof_of_study",
            "agent_id_card",
            "proof_of_relationship",
        ];
        for material in &self.materials {
            if !KNOWN.contains(&material.code.as_str()) {
                return invalid(
                    "materials.code",
                    &format!("`{}` is not one of {}", material.code, KNOWN.join(", ")),
                );
            }
            not_blank("materials.name", &material.name)?;
        }
        if !self
            .materials
            .iter()
            .any(|m| m.required == Requirement::Always)
        {
            return invalid(
                "materials",
                "must list at least one material required always",
            );
        }
        Ok(())
    }
}

fn invalid<T>(field: &'static str, problem: &str) -> Result<T, ItemError> {
    Err(ItemError::Invalid {
        field,
        problem: problem.to_owned(),
    })
}

fn not_blank(field: &'static str, value: &str) -> Result<(), ItemError> {
    if value.trim().is_empty() {
        return invalid(field, "must not be empty");
    }
    Ok(())
}

fn alphanumeric(
    field: &'static str,
    value: &str,
    length: std::ops::RangeInclusive<usize>,
) -> Result<(), ItemError> {
    if !length.contains(&value.len()) || !value.bytes().all(|b| b.is_ascii_alphanumeric()) {
        let problem = format!(
            "must be {} to {} letters or digits, got {:?}",
            length.start(),
            length.end(),
            value
        );
        return invalid(field, &problem);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHIPPED: &str = include_str!("../../../deploy/service-item.toml");

    #[test]
    fn shipped_definition_loads() {
        let item = ServiceItem::parse(SHIPPED).expect("shipped definition is valid");
        assert_eq!(item.name, "居住证签注");
        assert_eq!(item.time_limits.legal_working_days, 1);
        assert!(item.offers_courier());
        assert!(!item.fee.charged);
        assert_eq!(item.channels.max_on_site_visits, 0);
        assert_eq!(item.codes.implementation, "1141282400596722961000709005000");
    }

    #[test]
    fn rule_switches_default_as_documented_and_can_be_set() {
        use residence_rules::AgentPolicy;
        let shipped = ServiceItem::parse(SHIPPED).unwrap();
        assert_eq!(shipped.rules, residence_rules::Switches::default());
        let without = SHIPPED.replacen("agent_for_adults = \"guardian_or_close_relative\"", "", 1);
        assert_eq!(
            ServiceItem::parse(&without).unwrap().rules.agent_for_adults,
            AgentPolicy::GuardianOrCloseRelative
        );
        let strict = SHIPPED.replacen(
            "agent_for_adults = \"guardian_or_close_relative\"",
            "agent_for_adults = \"in_person_only\"\nreregister_after_months_late = 6",
            1,
        );
        let strict = ServiceItem::parse(&strict).unwrap().rules;
        assert_eq!(strict.agent_for_adults, AgentPolicy::InPersonOnly);
        assert_eq!(strict.reregister_after_months_late, Some(6));
        let bad = error_for(
            "# reregister_after_months_late = 6",
            "reregister_after_months_late = 0",
        );
        assert!(bad.contains("rules.reregister_after_months_late"), "{bad}");
        let unknown = error_for(
            "agent_for_adults = \"guardian_or_close_relative\"",
            "agent_for_adults = \"anyone\"",
        );
        assert!(unknown.contains("agent_for_adults"), "{unknown}");
    }

    #[test]
    fn new_parcels_go_to_the_first_enabled_partner() {
        let shipped = ServiceItem::parse(SHIPPED).unwrap();
        assert_eq!(shipped.courier_partner().unwrap().code, "ems");
        assert!(
            shipped.delivery.partners.len() >= 2,
            "an example second partner"
        );

        let ems_disabled = SHIPPED.replacen("enabled = true", "enabled = false", 1);
        let zto_enabled = SHIPPED
            .replacen("enabled = false", "enabled = true", 1)
            .replacen("enabled = true", "enabled = false", 1);
        let switched = ServiceItem::parse(&zto_enabled).unwrap();
        assert_eq!(switched.courier_partner().unwrap().code, "zto");
        assert_eq!(
            switched.delivery.partners.len(),
            shipped.delivery.partners.len()
        );

        let none = ServiceItem::parse(&ems_disabled).unwrap_err().to_string();
        assert!(none.contains("delivery.partners"), "{none}");
        let no_courier = ems_disabled.replacen("courier = true", "courier = false", 1);
        assert!(
            ServiceItem::parse(&no_courier)
                .unwrap()
                .courier_partner()
                .is_none()
        );

        let twice = error_for("code = \"zto\"", "code = \"ems\"");
        assert!(twice.contains("unique"), "{twice}");
    }

    #[test]
    fn a_case_goes_to_the_town_its_address_names() {
        let shipped = ServiceItem::parse(SHIPPED).unwrap();
        let own = shipped.town_for("河南省驻马店市西平县五沟营镇东街1号");
        assert_eq!(
            (own.code.as_str(), own.name.as_str()),
            ("412824101", "五沟营镇")
        );
        assert_eq!(shipped.town_for("西平县权寨镇南街2号").code, "412824102");
        assert_eq!(
            shipped.town_for("河南省驻马店市遂平县车站街3号").code,
            "412824101"
        );

        let mut county_wide = shipped.clone();
        county_wide.implementing_body.towns.clear();
        assert_eq!(county_wide.town_for("西平县权寨镇南街2号").code, "412824");
        let outside = error_for("code = \"412824102\"", "code = \"412825102\"");
        assert!(
            outside.contains("implementing_body.towns.code"),
            "{outside}"
        );
        let twice = error_for("code = \"412824102\"", "code = \"412824101\"");
        assert!(twice.contains("unique"), "{twice}");
    }

    fn error_for(from: &str, to: &str) -> String {
        let text = SHIPPED.replacen(from, to, 1);
        assert_ne!(text, SHIPPED, "replacement must apply");
        ServiceItem::parse(&text)
            .expect_err("must be rejected")
            .to_string()
    }

    #[test]
    fn bad_fields_are_named() {
        let zero = error_for("legal_working_days = 1", "legal_working_days = 0");
        assert!(zero.contains("time_limits.legal_working_days"), "{zero}");
        let promised = error_for("promised_working_days = 1", "promised_working_days = 3");
        assert!(promised.contains("promised_working_days"), "{promised}");
        let code = error_for(
            "credit_code = \"114128240059672296\"",
            "credit_code = \"11\"",
        );
        assert!(code.contains("implementing_body.credit_code"), "{code}");
        let partner = error_for("code = \"ems\"", "code = \"E M S\"");
        assert!(partner.contains("delivery.partners.code"), "{partner}");
    }

    #[test]
    fn missing_and_unknown_fields_are_named() {
        let missing = error_for("result_name = \"居住证\"\n", "");
        assert!(missing.contains("result_name"), "{missing}");
        let unknown = error_for(
            "name = \"居住证签注\"",
            "name = \"居住证签注\"\ncolour = \"red\"",
        );
        assert!(unknown.contains("colour"), "{unknown}");
        let typed = error_for("legal_working_days = 1", "legal_working_days = \"one\"");
        assert!(typed.contains("legal_working_days"), "{typed}");
    }
}
