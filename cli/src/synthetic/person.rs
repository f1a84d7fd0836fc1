//! Made-up residents of 西平县: names, identity numbers, phones and addresses.

use std::ops::RangeInclusive;

use chrono::{Datelike, Days, NaiveDate};
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use super::id_number;

/// Common surnames, most frequent first.
const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "马", "朱", "胡", "郭",
    "何", "高", "林", "罗", "郑", "梁", "谢", "宋", "唐", "许", "韩", "冯", "邓", "曹", "彭", "曾",
    "田", "董", "袁", "潘", "于", "蒋", "蔡", "余", "杜", "叶", "程", "苏", "魏", "吕", "丁", "任",
    "沈", "姚",
];

/// Common given names for men.
const MALE_GIVEN_NAMES: &[&str] = &[
    "伟", "强", "磊", "军", "勇", "杰", "涛", "明", "超", "刚", "建国", "建华", "志强", "国强",
    "海涛", "文博", "浩然", "宇航", "子豪", "俊杰", "振宇", "晨阳", "一鸣", "家乐",
];

/// Common given names for women.
const FEMALE_GIVEN_NAMES: &[&str] = &[
    "芳", "娜", "敏", "静", "丽", "艳", "娟", "霞", "秀英", "秀兰", "桂英", "海燕", "红梅", "玉兰",
    "丽娟", "欣怡", "子涵", "梓萱", "雨桐", "诗琪", "佳怡", "思雨", "一诺", "若曦",
];

/// Made-up villages (行政村) of 五沟营镇.
const VILLAGES: &[&str] = &[
    "王庄", "李楼", "张湾", "刘营", "东岗", "西岗", "南湖", "北湖", "杨桥", "陈寨", "孙店", "郭庄",
    "前营", "后营", "河口", "新集",
];

/// Made-up places in 遂平县, the neighbouring county, for addresses outside the jurisdiction.
const NEIGHBOUR_PLACES: &[&str] = &["车站街道", "褚堂乡", "嵖岈山镇", "玉山镇", "常庄镇"];

/// The county's current region code and the one it had before 2000.
pub const REGION_CODES: [&str; 2] = ["411721", "412824"];

/// The prefix of Hong Kong residents' permit numbers.
pub const HONG_KONG_PREFIX: &str = "810000";

/// A made-up person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Full name, surname first.
    pub name: String,
    /// Whether the identity number marks a man (odd sequence number).
    pub male: bool,
    /// Date of birth, as in the identity number.
    pub birth_date: NaiveDate,
    /// The 18-character identity number, with a correct check character.
    pub id_number: String,
    /// An 11-digit mobile number.
    pub phone: String,
}

/// A person aged between the ends of `ages` on `today`, carrying the given surname or a
/// random one. Those born before 2000 may still carry the county's old region code.
pub fn person(
    rng: &mut StdRng,
    today: NaiveDate,
    ages: RangeInclusive<u32>,
    surname: Option<&str>,
) -> Person {
    let birth_date = birth_date(rng, today, ages);
    let region = if birth_date.year() < 2000 && rng.gen_bool(0.6) {
        REGION_CODES[1]
    } else {
        REGION_CODES[0]
    };
    person_in_region(rng, birth_date, region, surname)
}

/// A Hong Kong resident living in the county, with a Hong Kong residents' permit number.
pub fn hong_kong_resident(rng: &mut StdRng, today: NaiveDate) -> Person {
    let birth_date = birth_date(rng, today, 20..=60);
    person_in_region(rng, birth_date, HONG_KONG_PREFIX, None)
}

fn person_in_region(
    rng: &mut StdRng,
    birth_date: NaiveDate,
    region: &str,
    surname: Option<&str>,
) -> Person {
    let male = rng.gen_bool(0.5);
    // Odd sequence numbers are men, even ones women.
    let sequence = rng.gen_range(0..500) * 2 + u32::from(male);
    let sequence = if sequence == 0 { 2 } else { sequence };
    let surname = surname.unwrap_or_else(|| pick(rng, SURNAMES));
    let given = pick(
        rng,
        if male {
            MALE_GIVEN_NAMES
        } else {
            FEMALE_GIVEN_NAMES
        },
    );
    Person {
        name: format!("{surname}{given}"),
        male,
        birth_date,
        id_number: id_number::build(region, birth_date, sequence),
        phone: phone(rng),
    }
}

/// A birth date making the person between the ends of `ages` years old on `today`.
fn birth_date(rng: &mut StdRng, today: NaiveDate, ages: RangeInclusive<u32>) -> NaiveDate {
    let age = rng.gen_range(ages);
    let latest = today
        .with_year(today.year() - age as i32)
        .unwrap_or_else(|| today - Days::new(u64::from(age) * 365));
    // Up to 360 days earlier keeps the age below `age + 1` even across leap days.
    latest - Days::new(rng.gen_range(0..=360))
}

/// A mobile number starting 13x, 15x or 18x.
pub fn phone(rng: &mut StdRng) -> String {
    let prefix = pick(rng, &["13", "15", "18"]);
    let third = rng.gen_range(0..10);
    let rest: u32 = rng.gen_range(0..100_000_000);
    format!("{prefix}{third}{rest:08}")
}

/// An address in 五沟营镇, 西平县.
pub fn home_address(rng: &mut StdRng) -> String {
    let village = pick(rng, VILLAGES);
    let group = rng.gen_range(1..=12);
    let number = rng.gen_range(1..=80);
    format!("河南省驻马店市西平县五沟营镇{village}村{group}组{number}号")
}

/// An address in 遂平县, outside the county this body may endorse for.
pub fn neighbouring_county_address(rng: &mut StdRng) -> String {
    let place = pick(rng, NEIGHBOUR_PLACES);
    let village = pick(rng, VILLAGES);
    let group = rng.gen_range(1..=12);
    let number = rng.gen_range(1..=80);
    format!("河南省驻马店市遂平县{place}{village}村{group}组{number}号")
}

/// Whether `given` is one of the given names used for men.
#[cfg(test)]
pub(super) fn is_male_given_name(given: &str) -> bool {
    MALE_GIVEN_NAMES.contains(&given)
}

fn pick<'a>(rng: &mut StdRng, choices: &[&'a str]) -> &'a str {
    choices.choose(rng).copied().unwrap_or_default()
}
