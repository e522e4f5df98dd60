"""Hand-written articles for the stories tests: three stories told by several
outlets over three nights, plus unrelated one-off articles. Each story's
articles share names and rare words, as reports of one event do; the stories
share nothing but common news words.

    from corpus import NIGHTS, ONE_OFF, doc, near

For tests of a mechanism (the window, dates) rather than of the model,
near(k) gives the first quake article with one sentence of its own: any model
joins those, so a test fails only when the mechanism does.
"""

QUAKE = [
    ("Earthquake kills twelve in Izmir",
     "A powerful earthquake struck the Turkish city of Izmir on Friday, killing twelve people "
     "and injuring hundreds. Rescue teams searched collapsed buildings in the Bayrakli district "
     "through the night, the disaster agency AFAD said."),
    ("Izmir earthquake death toll rises",
     "Rescue workers in Izmir pulled survivors from the rubble after the earthquake. The death "
     "toll rose to twelve as more buildings in Bayrakli collapsed, AFAD said."),
    ("Survivors pulled from Bayrakli rubble after Izmir quake",
     "Two days after the earthquake in Izmir, AFAD rescue teams found survivors in the rubble "
     "of a collapsed building in Bayrakli. The death toll from the quake stands at twelve."),
    ("Izmir quake: Bayrakli residents sleep in tents",
     "Thousands of Bayrakli residents spent a third night in tents after the Izmir earthquake, "
     "as AFAD engineers inspected cracked buildings and rescue teams ended the search."),
]

BANK = [
    ("Bundesbank warns on inflation as ECB raises rates",
     "The European Central Bank raised its deposit rate by half a point in Frankfurt, and "
     "Bundesbank president Joachim Nagel warned that inflation in the eurozone remained "
     "stubborn. Lagarde said more hikes were possible."),
    ("Lagarde defends half-point ECB hike",
     "ECB president Christine Lagarde defended the half-point rate hike in Frankfurt, saying "
     "eurozone inflation was still too high. Bundesbank chief Nagel backed the increase."),
    ("Markets digest ECB hike; Nagel sees more to come",
     "Eurozone bond markets fell after the ECB deposit rate hike in Frankfurt. Bundesbank "
     "president Nagel said further increases could follow if inflation stayed high; Lagarde "
     "declined to commit."),
]

REFORM = [
    ("Parliament passes pension reform amid strikes",
     "Lawmakers in Lisbon approved the pension reform late on Friday after a heated debate, "
     "raising the retirement age to sixty-six. The unions CGTP and UGT called a general strike "
     "against the pension law."),
    ("Unions strike over Lisbon pension law",
     "Trains and schools stopped across Portugal as the CGTP and UGT unions struck against the "
     "pension reform that parliament in Lisbon passed, raising the retirement age to sixty-six."),
]

ONE_OFF = [
    ("Rare orchid found in Madagascar forest",
     "Botanists from Kew Gardens described a new species of orchid discovered in a remote "
     "rainforest of eastern Madagascar, pollinated by a long-tongued hawkmoth."),
    ("Chess olympiad opens in Budapest",
     "Grandmasters from over one hundred eighty nations arrived in Budapest for the chess "
     "olympiad, with Norway's Carlsen absent from the opening rounds."),
    ("Volcano ash grounds flights in Iceland",
     "Ash from the eruption near Grindavik closed Keflavik airport, stranding tourists, as "
     "lava flows threatened the Svartsengi power plant."),
]


def doc(doc_id, title_body, date, source):
    title, body = title_body
    return {"id": doc_id, "text": body, "meta": {"title": title, "date": date, "source": source}}


# Three nights: night 1 opens the three stories; nights 2 and 3 continue them
# (a story's first document gives it its id), with one-offs in between.
NIGHTS = [
    [doc("n1-quake-a", QUAKE[0], "2024-03-01", "outlet-a"),
     doc("n1-bank-a", BANK[0], "2024-03-01", "outlet-b"),
     doc("n1-quake-b", QUAKE[1], "2024-03-01", "outlet-c"),
     doc("n1-reform-a", REFORM[0], "2024-03-01", "outlet-a"),
     doc("n1-orchid", ONE_OFF[0], "2024-03-01", "outlet-d")],
    [doc("n2-bank-b", BANK[1], "2024-03-02", "outlet-c"),
     doc("n2-chess", ONE_OFF[1], "2024-03-02", "outlet-a"),
     doc("n2-quake-c", QUAKE[2], "2024-03-03", "outlet-b")],
    [doc("n3-reform-b", REFORM[1], "2024-03-03", "outlet-e"),
     doc("n3-quake-d", QUAKE[3], "2024-03-04", "outlet-d"),
     doc("n3-bank-c", BANK[2], "2024-03-04", "outlet-a"),
     doc("n3-volcano", ONE_OFF[2], "2024-03-04", "outlet-b")],
]

# The story each document belongs to, named by its first document.
GOLD = {}
for night in NIGHTS:
    for d in night:
        kind = d["id"].split("-")[1]
        first = {"quake": "n1-quake-a", "bank": "n1-bank-a", "reform": "n1-reform-a"}
        GOLD[d["id"]] = first.get(kind, d["id"])


def near(k):
    """The first quake article, told again with an update sentence of its own."""
    title, body = QUAKE[0]
    return (f"{title} (update {k})", f"{body} Update {k}: officials gave new figures at dawn.")
