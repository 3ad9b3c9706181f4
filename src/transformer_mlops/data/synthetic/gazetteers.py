"""Hand-picked entity lists for the synthetic NER data (Faker adds thousands of people and firms).

AMBIGUOUS holds surface forms that are one type in one sentence and another type in the next
(Jordan the person vs Jordan the country, Ford the man vs Ford the company), so the model has
to read the context, not memorise the name.
"""

from __future__ import annotations

LOCATIONS = (
    """
Paris|London|Berlin|Madrid|Rome|Vienna|Prague|Warsaw|Budapest|Lisbon|Dublin|Brussels|Amsterdam
Copenhagen|Stockholm|Oslo|Helsinki|Athens|Istanbul|Moscow|Kyiv|Cairo|Nairobi|Lagos|Accra
Johannesburg|Cape Town|Casablanca|Tunis|Algiers|Dakar|Addis Ababa|Khartoum|Tokyo|Osaka|Kyoto
Seoul|Beijing|Shanghai|Hong Kong|Taipei|Manila|Jakarta|Bangkok|Hanoi|Kuala Lumpur|Singapore
New Delhi|Mumbai|Karachi|Lahore|Dhaka|Kathmandu|Colombo|Tehran|Baghdad|Riyadh|Dubai|Doha
Tel Aviv|Beirut|Amman|Damascus|Sydney|Melbourne|Brisbane|Perth|Auckland|Wellington|Toronto
Montreal|Vancouver|Ottawa|New York|Los Angeles|Chicago|Houston|Boston|Seattle|San Francisco
Miami|Atlanta|Denver|Detroit|Dallas|Phoenix|New Orleans|Mexico City|Havana|Bogota|Lima
Santiago|Buenos Aires|Montevideo|Sao Paulo|Rio de Janeiro|Caracas|Quito|La Paz|France|Germany
Spain|Italy|Portugal|Ireland|Belgium|the Netherlands|Denmark|Sweden|Norway|Finland|Greece
Turkey|Russia|Ukraine|Poland|Hungary|Austria|Switzerland|Egypt|Kenya|Nigeria|Ghana|Ethiopia
South Africa|Morocco|Japan|China|South Korea|Taiwan|the Philippines|Indonesia|Thailand|Vietnam
Malaysia|India|Pakistan|Bangladesh|Nepal|Sri Lanka|Iran|Iraq|Saudi Arabia|Qatar|Israel|Lebanon
Syria|Australia|New Zealand|Canada|Mexico|Cuba|Colombia|Peru|Chile|Argentina|Uruguay|Brazil
Venezuela|Ecuador|Bolivia|Texas|California|Florida|Ohio|Bavaria|Scotland|Wales|Catalonia
Siberia|Patagonia|Europe|Asia|Africa|the Middle East|Latin America|the Alps|the Rhine|the Nile
the Amazon|the Danube|Lake Geneva|the Balkans|Gaza|Kashmir|Crimea|Tasmania|Sicily|Corsica
""".replace("\n", "|")
    .strip("|")
    .split("|")
)

ORGANIZATIONS = (
    """
United Nations|World Bank|International Monetary Fund|European Union|NATO|World Health Organization
Red Cross|Amnesty International|Greenpeace|UNICEF|Interpol|OPEC|European Central Bank
Federal Reserve|Bank of England|Bundesbank|Reuters|Associated Press|BBC|CNN|Al Jazeera
The New York Times|Financial Times|Le Monde|Der Spiegel|Microsoft|Google|Apple|Amazon|IBM
Intel|Siemens|Volkswagen|Toyota|Honda|Sony|Samsung|Nokia|Ericsson|Philips|Nestle|Unilever
Shell|BP|Exxon Mobil|Chevron|Gazprom|Airbus|Boeing|Lufthansa|Air France|British Airways
Deutsche Bank|Barclays|HSBC|Goldman Sachs|JPMorgan Chase|Citigroup|Morgan Stanley|UBS
Credit Suisse|BNP Paribas|Santander|Allianz|AXA|Pfizer|Novartis|Roche|Bayer|Merck|Renault
Peugeot|Fiat|Ferrari|General Motors|Ford|Tesla|Netflix|Spotify|Uber|Oracle|Cisco|SAP
Harvard University|Oxford University|Stanford University|MIT|Sorbonne|Yale University
Labour Party|Conservative Party|Democratic Party|Republican Party|Social Democrats|Green Party
Real Madrid|Barcelona|Manchester United|Liverpool|Chelsea|Arsenal|Juventus|Bayern Munich
Ajax|Benfica|Celtic|Boston Celtics|Chicago Bulls|New York Yankees|Los Angeles Lakers
Supreme Court|Senate|Parliament|Pentagon|Kremlin|Bundestag|European Commission|FIFA|UEFA
International Olympic Committee|Scotland Yard|FBI|CIA|NASA|European Space Agency|Toyota Motor
""".replace("\n", "|")
    .strip("|")
    .split("|")
)

MISCELLANEOUS = (
    """
English|French|German|Spanish|Italian|Portuguese|Dutch|Swedish|Norwegian|Danish|Finnish|Greek
Turkish|Russian|Ukrainian|Polish|Hungarian|Austrian|Swiss|Egyptian|Kenyan|Nigerian|Japanese
Chinese|Korean|Indian|Pakistani|Iranian|Iraqi|Saudi|Israeli|Australian|Canadian|Mexican|Cuban
Brazilian|Argentine|Chilean|American|British|European|African|Asian|Arab|Muslim|Christian
Catholic|Protestant|Jewish|Buddhist|Hindu|World Cup|Olympic Games|Tour de France|Wimbledon
US Open|Champions League|Super Bowl|Euro 2024|Nobel Prize|Oscar|Grammy|Booker Prize
Cold War|World War Two|Renaissance|Brexit|Ramadan|Christmas|Easter|Thanksgiving|Diwali
iPhone|Windows|Android|PlayStation|Boeing 747|Airbus A380|Model S|Linux|Python|Bitcoin
Hamlet|Don Quixote|Star Wars|The Godfather|Mona Lisa|Harry Potter|Bible|Koran
Dow Jones|Nasdaq|FTSE 100|Nikkei|DAX|Euro|Democrat|Republican|Socialist|Conservative
""".replace("\n", "|")
    .strip("|")
    .split("|")
)

# Surface form -> types it takes in the templates (the context picks one).
AMBIGUOUS: dict[str, tuple[str, ...]] = {
    "Jordan": ("PER", "LOC"),
    "Washington": ("PER", "LOC"),
    "Georgia": ("PER", "LOC"),
    "Florence": ("PER", "LOC"),
    "Austin": ("PER", "LOC"),
    "Sydney": ("PER", "LOC"),
    "Madison": ("PER", "LOC"),
    "Victoria": ("PER", "LOC"),
    "Chelsea": ("PER", "LOC", "ORG"),
    "Paris": ("PER", "LOC"),
    "Houston": ("PER", "LOC"),
    "Lincoln": ("PER", "LOC"),
    "Ford": ("PER", "ORG"),
    "Dell": ("PER", "ORG"),
    "Morgan": ("PER", "ORG"),
    "Disney": ("PER", "ORG"),
    "Ferrari": ("PER", "ORG"),
    "Barcelona": ("LOC", "ORG"),
    "Liverpool": ("LOC", "ORG"),
    "Madrid": ("LOC", "ORG"),
    "Turkey": ("LOC",),
    "Amazon": ("ORG", "LOC"),
    "Apple": ("ORG",),
}

# Lower-case words that look like entities when capitalised; in the templates they are O.
DISTRACTORS = [
    "apple", "amazon", "turkey", "china", "jaguar", "mercury", "shell", "jordan", "march",
    "may", "bill", "rose", "cook", "smith", "baker", "nice", "reading", "polish", "bath",
]  # fmt: skip
