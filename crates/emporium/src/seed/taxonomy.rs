//! The demo shop's category tree and what sells in each leaf.

use media::DemoShape;

/// What products of a leaf category look like.
pub struct Kind {
    pub nouns: &'static [&'static str],
    /// Option name → values to pick from.
    pub options: &'static [(&'static str, &'static [&'static str])],
    /// Base price range in cents.
    pub price: (i64, i64),
    pub shape: DemoShape,
    pub materials: &'static [&'static str],
    pub blurb: &'static [&'static str],
    /// Books get generated titles and authors instead of brand + noun.
    pub book: bool,
}

pub struct Leaf {
    pub path: [(&'static str, &'static str); 3],
    pub seller: usize,
    pub kind: Kind,
}

const SIZES: &[&str] = &["XS", "S", "M", "L", "XL"];
const COLOURS: &[&str] = &["Black", "White", "Navy", "Red", "Olive", "Grey", "Sand"];
const SHOE_SIZES: &[&str] = &["39", "40", "41", "42", "43", "44", "45", "46"];
const FORMATS: &[&str] = &["Paperback", "Hardcover", "E-book"];

macro_rules! leaf {
    ($seller:expr, [$($slug:literal : $name:literal),+], $kind:expr) => {
        Leaf { path: [$(($slug, $name)),+], seller: $seller, kind: $kind }
    };
}

/// Seller indexes: 0 is the shop itself, then the marketplace sellers.
pub const SELLERS: [(&str, Option<&str>); 3] = [
    ("Northwind Outfitters", Some("7xKXtg2CW87d97TXJSDpbD5jBkheTqA83TZRuJosgAsU")),
    ("Bluebird Books", Some("9WzDXwBbmkg8ZTbNMqUxvQRAyrZzDsGYdLVL9zYtAWWM")),
    ("Hearth & Home Co.", None),
];

pub fn leaves() -> Vec<Leaf> {
    let apparel = |nouns, materials, price, blurb| Kind {
        nouns,
        options: &[("size", SIZES), ("colour", COLOURS)],
        price,
        shape: DemoShape::Apparel,
        materials,
        blurb,
        book: false,
    };
    let book = |blurb| Kind {
        nouns: &["Book"],
        options: &[("format", FORMATS)],
        price: (899, 3499),
        shape: DemoShape::Book,
        materials: &[],
        blurb,
        book: true,
    };
    vec![
        leaf!(0, ["apparel": "Apparel", "tops": "Tops", "t-shirts": "T-Shirts"], apparel(
            &["T-Shirt", "Tee", "Crew Tee", "Pocket Tee"], &["Cotton", "Organic", "Slub", ""], (1500, 3900),
            &["a soft everyday tee that keeps its shape wash after wash", "breathable jersey with a relaxed fit"])),
        leaf!(0, ["apparel": "Apparel", "tops": "Tops", "hoodies": "Hoodies"], apparel(
            &["Hoodie", "Zip Hoodie", "Pullover Hoodie"], &["Fleece", "Heavyweight", "Loopback", ""], (3900, 8900),
            &["a warm hoodie with a brushed fleece lining", "kangaroo pocket, ribbed cuffs and a lined hood"])),
        leaf!(0, ["apparel": "Apparel", "tops": "Tops", "shirts": "Shirts"], apparel(
            &["Oxford Shirt", "Flannel Shirt", "Linen Shirt", "Overshirt"], &["Brushed", "Washed", ""], (2900, 7900),
            &["a button-down for the office and the weekend", "garment-dyed for a lived-in look"])),
        leaf!(0, ["apparel": "Apparel", "bottoms": "Bottoms", "jeans": "Jeans"], Kind {
            nouns: &["Jeans", "Slim Jeans", "Straight Jeans", "Relaxed Jeans"],
            options: &[("waist", &["28", "30", "32", "34", "36"]), ("colour", &["Indigo", "Black", "Stone"])],
            price: (4900, 12900), shape: DemoShape::Apparel, materials: &["Selvedge", "Stretch", "Raw", ""],
            blurb: &["denim that softens with every wear", "five pockets, a button fly and reinforced seams"], book: false }),
        leaf!(0, ["apparel": "Apparel", "bottoms": "Bottoms", "shorts": "Shorts"], apparel(
            &["Shorts", "Chino Shorts", "Trail Shorts"], &["Ripstop", "Cotton", ""], (2500, 5900),
            &["quick-drying shorts for long summer days", "an elastic waist and deep side pockets"])),
        leaf!(2, ["home-kitchen": "Home & Kitchen", "kitchen": "Kitchen", "mugs": "Mugs"], Kind {
            nouns: &["Mug", "Travel Mug", "Espresso Cup", "Latte Mug"], options: &[("colour", COLOURS)],
            price: (900, 2900), shape: DemoShape::Mug, materials: &["Stoneware", "Ceramic", "Enamel", ""],
            blurb: &["holds a generous morning coffee", "dishwasher and microwave safe"], book: false }),
        leaf!(2, ["home-kitchen": "Home & Kitchen", "kitchen": "Kitchen", "cookware": "Cookware"], Kind {
            nouns: &["Skillet", "Saucepan", "Dutch Oven", "Sauté Pan"], options: &[("size", &["20 cm", "24 cm", "28 cm"])],
            price: (2900, 19900), shape: DemoShape::Box, materials: &["Cast Iron", "Stainless", "Copper", ""],
            blurb: &["even heat from edge to centre", "works on gas, electric and induction hobs"], book: false }),
        leaf!(2, ["home-kitchen": "Home & Kitchen", "decor": "Decor", "lamps": "Lamps"], Kind {
            nouns: &["Desk Lamp", "Floor Lamp", "Reading Lamp", "Table Lamp"], options: &[("finish", &["Brass", "Black", "White"])],
            price: (3900, 24900), shape: DemoShape::Lamp, materials: &["Arc", "Globe", "Task", ""],
            blurb: &["warm, glare-free light for evenings in", "an adjustable arm and a weighted base"], book: false }),
        leaf!(2, ["home-kitchen": "Home & Kitchen", "decor": "Decor", "candles": "Candles"], Kind {
            nouns: &["Candle", "Soy Candle", "Tealight Set"], options: &[("scent", &["Cedar", "Vanilla", "Sea Salt", "Fig"])],
            price: (900, 3900), shape: DemoShape::Bottle, materials: &["Hand-poured", "Scented", ""],
            blurb: &["burns cleanly for up to 50 hours", "a cotton wick in a reusable glass jar"], book: false }),
        leaf!(1, ["books": "Books", "fiction": "Fiction", "mystery": "Mystery"], book(
            &["a page-turner full of twists", "a detective story set in a rain-soaked port town"])),
        leaf!(1, ["books": "Books", "fiction": "Fiction", "science-fiction": "Science Fiction"], book(
            &["a voyage to the edge of the known galaxy", "first contact told from both sides"])),
        leaf!(1, ["books": "Books", "non-fiction": "Non-fiction", "cooking": "Cooking"], book(
            &["a hundred recipes for weeknight dinners", "seasonal cooking from market to table"])),
        leaf!(1, ["books": "Books", "non-fiction": "Non-fiction", "history": "History"], book(
            &["the story of the trade routes that shaped the world", "an empire's rise and fall, retold"])),
        leaf!(0, ["outdoors": "Outdoors", "camping": "Camping", "tents": "Tents"], Kind {
            nouns: &["Tent", "Backpacking Tent", "Family Tent", "Bivvy"], options: &[("colour", &["Green", "Orange", "Grey"])],
            price: (9900, 49900), shape: DemoShape::Box, materials: &["Ultralight", "4-Season", "Dome", ""],
            blurb: &["pitches in five minutes, even in the wind", "taped seams and a full-coverage fly"], book: false }),
        leaf!(0, ["outdoors": "Outdoors", "camping": "Camping", "water-bottles": "Water Bottles"], Kind {
            nouns: &["Water Bottle", "Insulated Bottle", "Flask"],
            options: &[("size", &["500 ml", "750 ml", "1 l"]), ("colour", COLOURS)],
            price: (1500, 4500), shape: DemoShape::Bottle, materials: &["Steel", "Vacuum", "Trail", ""],
            blurb: &["keeps drinks cold for 24 hours", "leak-proof lid and a powder-coated finish"], book: false }),
        leaf!(0, ["outdoors": "Outdoors", "footwear": "Footwear", "boots": "Boots"], Kind {
            nouns: &["Hiking Boots", "Chelsea Boots", "Trail Boots"], options: &[("size", SHOE_SIZES), ("colour", &["Brown", "Black", "Tan"])],
            price: (7900, 22900), shape: DemoShape::Shoe, materials: &["Leather", "Waterproof", "Suede", ""],
            blurb: &["grippy soles for wet rock and mud", "a waterproof membrane and a padded collar"], book: false }),
        leaf!(0, ["outdoors": "Outdoors", "footwear": "Footwear", "sneakers": "Sneakers"], Kind {
            nouns: &["Sneakers", "Running Shoes", "Court Sneakers"], options: &[("size", SHOE_SIZES), ("colour", COLOURS)],
            price: (4900, 15900), shape: DemoShape::Shoe, materials: &["Knit", "Canvas", "Leather", ""],
            blurb: &["cushioned for all-day comfort", "a breathable upper and a recycled rubber sole"], book: false }),
    ]
}

pub const BRANDS: &[&str] = &[
    "Zephyr",
    "Aurora",
    "Summit",
    "Harbor",
    "Cascade",
    "Nimbus",
    "Ember",
    "Granite",
    "Willow",
    "Meridian",
    "Juniper",
    "Atlas",
    "Solstice",
    "Tundra",
    "Coastal",
    "Alpine",
    "Canyon",
    "Driftwood",
    "Falcon",
    "Glacier",
    "Horizon",
    "Ironwood",
    "Lumen",
    "Maple",
    "Nova",
    "Orchard",
    "Pioneer",
    "Quarry",
    "Redwood",
    "Sierra",
    "Timber",
    "Vista",
    "Wren",
    "Yarrow",
    "Bramble",
    "Copper",
    "Fjord",
    "Heron",
    "Kestrel",
    "Moss",
];

pub const BOOK_ADJECTIVES: &[&str] = &[
    "Silent",
    "Last",
    "Hidden",
    "Crimson",
    "Distant",
    "Forgotten",
    "Golden",
    "Midnight",
    "Broken",
    "Endless",
    "Quiet",
    "Burning",
    "Frozen",
    "Lost",
    "Secret",
    "Wandering",
];
pub const BOOK_NOUNS: &[&str] = &[
    "Harbor",
    "Orchard",
    "Lighthouse",
    "Kingdom",
    "Garden",
    "River",
    "Archive",
    "Voyage",
    "Station",
    "Empire",
    "Table",
    "Kitchen",
    "Signal",
    "Frontier",
    "Map",
    "Winter",
];
pub const AUTHORS: &[&str] = &[
    "Ada Whitlock",
    "Marcus Bell",
    "Priya Raman",
    "Tomás Ortega",
    "Lena Fischer",
    "Kofi Mensah",
    "Hana Sato",
    "Owen Price",
    "Sofia Rossi",
    "Noah Klein",
    "Amara Obi",
    "Elliot Hart",
];
pub const REVIEWERS: &[&str] = &[
    "Jane Doe",
    "Sam Lee",
    "Maria Garcia",
    "Chen Wei",
    "Fatima Khan",
    "Liam Murphy",
    "Olga Petrova",
    "Yuki Tanaka",
    "Ben Carter",
    "Aisha Bello",
    "Lucas Martin",
    "Emma Wilson",
    "Diego Silva",
    "Nora Berg",
    "Ravi Patel",
    "Zoe Adams",
];
pub const REVIEW_TEXT: [(&str, &str); 5] = [
    ("Disappointed", "Not what I expected from the photos; I sent it back."),
    ("Could be better", "Does the job, but the quality feels a little cheap for the price."),
    ("Decent", "Fine for everyday use. Nothing special, nothing wrong."),
    ("Really good", "Well made and arrived quickly. I would buy it again."),
    ("Love it", "Excellent quality and exactly as described. Highly recommended!"),
];

/// A store for the locator: name, street, city, postcode, country, lat, lng, phone.
pub type DemoStore = (&'static str, &'static str, &'static str, &'static str, &'static str, f64, f64, &'static str);

pub const STORES: [DemoStore; 5] = [
    ("Emporium London", "12 Neal Street", "London", "WC2H 9PU", "GB", 51.5145, -0.1264, "+44 20 7946 0012"),
    ("Emporium Paris", "8 Rue de Rivoli", "Paris", "75004", "FR", 48.8556, 2.3590, "+33 1 84 88 00 08"),
    ("Emporium Berlin", "Oranienstraße 25", "Berlin", "10999", "DE", 52.5010, 13.4197, "+49 30 1234 5025"),
    ("Emporium New York", "210 Lafayette Street", "New York", "10012", "US", 40.7222, -73.9977, "+1 212 555 0210"),
    (
        "Emporium San Francisco",
        "550 Valencia Street",
        "San Francisco",
        "94110",
        "US",
        37.7640,
        -122.4216,
        "+1 415 555 0550",
    ),
];
