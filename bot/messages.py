"""Every Dutch text the bot sends; Telegram HTML, placeholders are filled with escaped values."""

from rag.messages_nl import SUPPORTED_FORMATS

# Commands shown in Telegram's menu (setMyCommands). Admin commands only in admins' chats.
COMMANDS = {
    "start": "Welkom en voorbeeldvragen",
    "help": "Wat kan deze bot?",
    "vraag": "Stel een vraag (ook in groepen)",
    "afleveringen": "Welke afleveringen ken ik?",
    "bronnen": "Citaten bij het laatste antwoord",
    "reset": "Vergeet dit gesprek",
    "vergeet": "Wis alles wat ik over je bewaar",
    "webinar": "Stuur een vraag in voor het webinar",
    "mijnvragen": "Je vragen voor het webinar",
}
ADMIN_COMMANDS = {
    "reindex": "Index bijwerken (beheer)",
    "stats": "Statistieken (beheer)",
    "webinarinfo": "Info over het volgende webinar (beheer)",
    "webinarvragen": "Ingestuurde webinarvragen (beheer)",
    "webinarafgerond": "Webinarronde afsluiten en vragers bedanken (beheer)",
    "opmerkingen": "Laatste opmerkingen bij 👎 (beheer)",
}

WELCOME = (
    "Hoi! Ik ben de vraagbaak van <b>AI Report</b>, de Nederlandse podcast over kunstmatige "
    "intelligentie.\n\n"
    "Stel me een vraag en ik zoek het antwoord op in de afleveringen. Bij elk antwoord staan de "
    "bronnen: welke aflevering, waar mogelijk het moment, en met de knop <b>Bronnen</b> de "
    "letterlijke citaten. Je kunt gewoon doorvragen.\n\n"
    "Probeer bijvoorbeeld:\n{examples}\n\n"
    "Meer uitleg: /help"
)
EXAMPLE_LINE = "• <i>{question}</i>"
EXAMPLE_QUESTION = "Wat zeiden ze over „{topic}”?"
EXAMPLE_FALLBACKS = (
    "Welke AI-tools bespreken de hosts?",
    "Wat zeggen ze over de invloed van AI op ons werk?",
    "Welke tips geven ze voor het gebruik van chatbots?",
)

HELP = (
    "<b>Zo werk ik</b>\n"
    "Stel in een privégesprek gewoon je vraag, in het Nederlands. Ik zoek in de transcripten van "
    "de afleveringen van AI Report en antwoord kort, met genummerde bronnen [1], [2]. "
    "Staat het antwoord niet in de afleveringen, dan zeg ik dat eerlijk.\n\n"
    "Doorvragen mag: „en wat zei hij over Nvidia?” gebruikt je vorige vraag, en „meer” geeft "
    "fragmenten over je vorige vraag die je nog niet zag.\n\n"
    "<b>In een groep</b> antwoord ik als je me noemt (@{bot_username} …), als je op een bericht "
    "van mij reageert, of op /vraag &lt;je vraag&gt;.\n\n"
    "<b>Commando's</b>\n"
    "/vraag – stel een vraag\n"
    "/afleveringen – welke afleveringen ik ken\n"
    "/bronnen – de citaten bij mijn laatste antwoord\n"
    "/reset – vergeet ons gesprek: ik wis de vragen en antwoorden\n"
    "/vergeet – wis alles wat ik over je bewaar\n"
    "/webinar &lt;vraag&gt; – stuur een vraag in voor het webinar met de makers\n"
    "/mijnvragen – je ingestuurde webinarvragen, met een knop om ze in te trekken\n"
    "/help – deze uitleg\n\n"
    "Vragen en antwoorden bewaar ik hoogstens {days} dagen."
)
HELP_ADMIN = (
    "\n\n<b>Beheer</b>\n"
    "/reindex – nieuwe of gewijzigde transcripten indexeren\n"
    "/stats – gebruik, antwoordtijden en AI-tokens\n"
    "/webinarinfo &lt;tekst&gt; – wat abonnees over het volgende webinar horen\n"
    "/webinarvragen – de ingestuurde webinarvragen, gegroepeerd, als document\n"
    "/opmerkingen – de laatste opmerkingen van gebruikers bij een 👎\n"
    f"Stuur een transcript ({SUPPORTED_FORMATS}) als bestand om het toe te voegen."
)

# Access
NOT_ALLOWED = (
    "Sorry, deze vraagbaak is alleen toegankelijk voor genodigden. "
    "Vraag de makers van AI Report om toegang."
)
LOCKED = (
    "Deze vraagbaak is er voor abonnees van de nieuwsbrief van AI Report. "
    "Open de persoonlijke link uit de nieuwsbrief om me te ontgrendelen; "
    "daarna kun je meteen je vragen stellen."
)
CODE_INVALID = (
    "Die toegangscode ken ik niet. Gebruik de link uit de nieuwsbrief van AI Report, "
    "precies zoals die in de mail staat."
)
CODE_COOLDOWN = (
    "Te veel verkeerde toegangscodes. Probeer het over {minutes} min. opnieuw, met de link uit "
    "de nieuwsbrief van AI Report."
)
CODE_PRIVATE_ONLY = (
    "Stuur je toegangscode niet in een groep, iedereen kan hem hier lezen. Open de link uit de "
    "nieuwsbrief of stuur me de code in een privégesprek."
)
UNLOCKED = "Welkom, je hebt nu toegang tot de vraagbaak!"
ADMIN_ONLY = "Dit commando is alleen voor beheerders."
ADMIN_PRIVATE_ONLY = "Beheercommando's werken alleen in een privégesprek met mij."
UPLOAD_ADMIN_ONLY = (
    "Alleen beheerders kunnen transcripten toevoegen. Stel gerust een vraag over de afleveringen!"
)

# Questions
EMPTY_QUESTION = "Stel een vraag over de afleveringen van AI Report, bijvoorbeeld: {example}"
NO_WORDS = (
    "Ik begrijp alleen vragen in woorden. Stel een vraag over de afleveringen van AI Report, "
    "bijvoorbeeld: {example}"
)
TOO_LONG = (
    "Je bericht is wat lang ({length} tekens). Kun je je vraag korter stellen, "
    "in hoogstens {limit} tekens? Dan zoek ik het meteen op."
)
# Sent once when a user asks faster than the limit allows; later questions are dropped silently.
TOO_MANY_QUESTIONS = (
    "Je stelt veel vragen kort na elkaar. Deze vraag beantwoord ik daarom niet, en wat je "
    "nu nog stuurt ook niet. Stel je vraag over een momentje (zo'n {seconds} seconden) "
    "gerust opnieuw."
)
VRAAG_USAGE = "Zet je vraag achter het commando, bijvoorbeeld: /vraag {example}"
OTHER_INPUT = (
    "Ik kan alleen tekst lezen. Stel je vraag over de afleveringen van AI Report in een "
    "berichtje, dan zoek ik het antwoord op, met bronnen."
)
# Voice questions (bot.voice)
VOICE_DISABLED = (
    "Spraakberichten staan uit: een beheerder zet ze aan met een spraak-naar-tekstdienst "
    "(<code>STT_BASE_URL</code> / <code>STT_API_KEY</code>, zie de README)."
)
VOICE_HEARD = "🎙️ Je vroeg: <i>{question}</i>"
VOICE_NOT_UNDERSTOOD = "Ik kon je spraakbericht niet verstaan, wil je het typen?"
VOICE_FAILED = (
    "Het omzetten van je spraakbericht naar tekst lukte nu niet. Wil je je vraag typen, of "
    "het over een momentje nog eens proberen?"
)
VOICE_TOO_LONG = (
    "Je spraakbericht duurt {duration} seconden; ik luister naar hoogstens {limit} seconden. "
    "Wil je je vraag korter inspreken, of typen?"
)
VOICE_TOO_LARGE = (
    "Dit geluidsbestand is te groot ({size:.1f} MB; hoogstens {limit:.0f} MB). "
    "Wil je je vraag korter inspreken, of typen?"
)
VOICE_UNSUPPORTED = (
    "Dit soort geluidsbestand kan ik niet verstaan. Stuur een spraakbericht, of typ je vraag."
)
VOICE_TRANSCRIPT_TOO_LONG = (
    "Dat is een lange vraag ({length} tekens). Kun je hem korter stellen, in hoogstens "
    "{limit} tekens? Dan zoek ik het meteen op."
)
UNKNOWN_COMMAND = "Dat commando ken ik niet. Stel gewoon je vraag, of kijk bij /help."
SOURCES_HEADING = "<b>Bronnen</b>"
SOURCES_BUTTON = "Bronnen"
SOURCE_LINE = "[{n}] {title}{moment}"
QUOTES_HEADING = "<b>Citaten bij je vraag</b> „{question}”"
QUOTE_BLOCK = "[{n}] {title}{moment}\n<i>“{quote}”</i>"
NO_SOURCES = "Er is nog geen antwoord met bronnen in dit gesprek. Stel eerst een vraag!"
SOURCES_GONE = "Deze bronnen zijn niet meer beschikbaar. Stel de vraag gerust opnieuw."
SOURCES_SENT = "Hier zijn de citaten."
RESET_DONE = "Ik ben ons gesprek vergeten. Je volgende vraag begint met een schone lei."
FORGET_ME_DONE = (
    "Ik heb alles gewist wat ik over je bewaarde: je vragen en mijn antwoorden in ons "
    "privégesprek, en je ingestuurde webinarvragen. Alleen je ontgrendeling met de code uit de "
    "nieuwsbrief (als je die hebt) houd ik, zodat je niet opnieuw hoeft te ontgrendelen. Wat je "
    "in een groep vroeg, hoort bij die groep: daar wist /reset het gesprek."
)

# Episodes
EPISODES_HEADING = "<b>Afleveringen in de vraagbaak</b> ({count})"
EPISODES_PAGE = "Pagina {page} van {pages}"
EPISODE_LINE = "{n}. {title}"
NO_EPISODES = "Er zijn nog geen afleveringen geïndexeerd."
PREVIOUS = "« Vorige"
NEXT = "Volgende »"

# Reindex and uploads (admins)
REINDEX_STARTED = "Index bijwerken… bezig met het lezen van de transcripten."
REINDEX_PROGRESS = "Index bijwerken… {done}/{total} fragmenten ingebed ({percent}%)."
REINDEX_BUSY = (
    "Er loopt al een herindexering. Wacht even tot die klaar is; vragen worden intussen gewoon "
    "beantwoord."
)
REINDEX_UP_TO_DATE = (
    "<b>De index was al bijgewerkt.</b>\n{episodes} afleveringen, {chunks} fragmenten "
    "({seconds:.1f} s)."
)
REINDEX_DONE = (
    "<b>Index bijgewerkt</b> ({kind}) in {seconds:.1f} s.\n"
    "Toegevoegd: {added} · bijgewerkt: {updated} · verwijderd: {removed} · overgeslagen: "
    "{skipped}\n"
    "Nu {episodes} afleveringen, {chunks} fragmenten."
)
REINDEX_KIND_FULL = "volledig opnieuw"
REINDEX_KIND_INCREMENTAL = "incrementeel"
REINDEX_LABEL = "<b>{label}</b>"
REINDEX_LABELS = {
    "added": "Toegevoegd",
    "updated": "Bijgewerkt",
    "removed": "Verwijderd",
    "skipped": "Overgeslagen",
}
REINDEX_FILE = "• {name}"
REINDEX_SKIPPED_FILE = "• {name}: {reason}"
INDEX_MISSING_BUILDING = (
    "Er is nog geen index; die wordt nu gebouwd. Over een paar minuten kan ik vragen beantwoorden."
)

UPLOAD_SAVED = (
    "Transcript opgeslagen als <code>{name}</code> (aflevering „{title}”, {words} woorden).\n"
    "Stuur /reindex om het aan de vraagbaak toe te voegen."
)
UPLOAD_REPLACED = (
    "\nDit vervangt het bestaande <code>{name}</code> (aflevering „{title}”, {old_words} woorden;"
    " nu {words}). De vorige versie is bewaard als <code>{backup}</code>."
)
UPLOAD_REPLACED_UNUSABLE = (
    "\nDit vervangt het bestaande <code>{name}</code>, dat geen bruikbaar transcript was. De "
    "vorige versie is bewaard als <code>{backup}</code>."
)
UPLOAD_MOVED = (
    "\n<code>{name}</code> bevatte dezelfde aflevering ({old_words} woorden) en is verplaatst "
    "naar <code>{backup}</code>, zodat de aflevering één keer in de vraagbaak komt."
)
UPLOAD_UNCHANGED = (
    "Dit transcript staat er al precies zo in, als <code>{name}</code> (aflevering „{title}”, "
    "{words} woorden). Er is niets veranderd."
)
UPLOAD_CONFIRM = (
    "<b>Eerst bevestigen:</b> het transcript <code>{name}</code> (aflevering „{title}”, "
    "{words} woorden) is nog niet opgeslagen."
)
UPLOAD_CONFIRM_SHORTER = (
    "\n• Het is veel korter dan het bestaande <code>{name}</code> (aflevering „{title}”, "
    "{old_words} woorden) dat het zou vervangen. Is dit wel het goede bestand?"
)
UPLOAD_CONFIRM_OTHER_EPISODE = (
    "\n• Het zou <code>{name}</code> vervangen, en dat is een andere aflevering: „{title}”."
)
UPLOAD_CONFIRM_SAME_EPISODE = (
    "\n• Deze aflevering (id <code>{episode_id}</code>) staat al in de map als "
    "<code>{name}</code> ({old_words} woorden). Van twee bestanden van één aflevering "
    "indexeert de vraagbaak er maar één; bij vervangen gaat <code>{name}</code> naar de backupmap."
)
UPLOAD_CONFIRM_END = (
    "\n\nBij vervangen blijft de vorige versie bewaard in <code>.backup/</code> in de "
    "transcriptmap. Deze vraag vervalt na {minutes} minuten."
)
UPLOAD_CONFIRM_BUTTON = "Vervangen"
UPLOAD_CANCEL_BUTTON = "Annuleren"
UPLOAD_CANCELLED = "Niet opgeslagen: <code>{name}</code>. Er is niets veranderd."
UPLOAD_CONFIRM_EXPIRED = "Deze vraag is verlopen. Stuur het bestand opnieuw."
UPLOAD_REJECTED = "Dit bestand kan ik niet gebruiken als transcript: {reason}."
UPLOAD_KEPT = " Het bestaande bestand <code>{name}</code> is niet aangeraakt."
UPLOAD_UNSUPPORTED = (
    f"Dit bestandstype kan ik niet gebruiken. Stuur een transcript als {SUPPORTED_FORMATS}."
)
UPLOAD_TOO_LARGE = "Dit bestand is te groot ({size:.1f} MB; maximaal {limit:.0f} MB)."

STATS = (
    "<b>Statistieken sinds de start</b> ({uptime})\n"
    "Afleveringen: {episodes} · fragmenten: {chunks}\n"
    "Vragen beantwoord: {questions}\n"
    "Niet gevonden: {not_found} ({not_found_rate})\n"
    "Antwoordtijd p50: {p50} · p95: {p95}"
)
STATS_FEEDBACK = (
    "\nFeedback: 👍 {up} · 👎 {down} ({share}); "
    "sinds de start 👍 {up_start} · 👎 {down_start} ({share_start})"
)
STATS_FEEDBACK_SHARE = "{percent:.0%} positief"
STATS_FEEDBACK_NONE = "nog geen stemmen"
STATS_COMMENTS = "\n\nOpmerkingen bij 👎: {count} (lees ze met /opmerkingen)"
STATS_GAPS_HEADING = (
    "\n<b>Niet in het archief, vaakst gevraagd</b> (onderwerpen voor volgende afleveringen)\n"
)
STATS_GAP_LINE = "{n}. {question} ({times}×, in {chats} {chat_word})"
STATS_GAP_CHAT = "chat"
STATS_GAP_CHATS = "chats"
STATS_GAPS_NONE = "\nNiet in het archief: nog geen vragen zonder antwoord."
STATS_VOICE = (
    "\nSpraakvragen: {questions} · niet verstaan of mislukt: {failures} · "
    "te lang of onbekend formaat: {refused} · audio: {seconds} s"
)
STATS_RERANKER = "\nReranker: {requests} verzoeken · mislukt of te traag: {failures}"
# With an LLM configured, /stats adds one line per counter of the answer service.
STATS_LLM_HEADING = "\n<b>AI-samenvattingen</b> ({name})"
STATS_LLM_LINE = "{label}: {count}"
STATS_LLM_LABELS = {
    "llm_answers": "Door het model geschreven",
    "llm_fallbacks": "Terugval op de fragmenten",
    # The group summaries of /webinarvragen (bot.webinar), one request per export; their
    # tokens are in the totals below.
    "webinar_summaries": "Webinarexports samengevat",
    "prompt_tokens": "Tokens invoer",
    "completion_tokens": "Tokens uitvoer",
    "total_tokens": "Tokens totaal",
}
NOT_AVAILABLE = "n.v.t."

# Webinar inbox (bot.webinar)
WEBINAR_USAGE = (
    "<b>Vragen voor het webinar</b>\n"
    "Abonnees krijgen een live webinar met de makers van AI Report. Zet je vraag achter "
    "het commando, bijvoorbeeld:\n/webinar {example}\n\n"
    "Ik zet je vraag op de lijst voor het volgende webinar. De makers krijgen alle vragen "
    "gebundeld te zien: vragen die op elkaar lijken komen bij elkaar, zonder namen. Staat "
    "het antwoord al in de afleveringen, dan laat ik het je meteen zien.\n\n"
    "Je kunt hoogstens {limit} vragen tegelijk open hebben. Met /mijnvragen zie je ze en "
    "trek je ze in."
)
WEBINAR_FILED = "Je vraag staat op de lijst voor het volgende webinar: <i>{question}</i>"
WEBINAR_DUPLICATE = "Deze vraag staat al op de lijst voor het volgende webinar: <i>{question}</i>"
WEBINAR_NEXT = "\n\n<b>Het volgende webinar</b>\n{info}"
WEBINAR_NO_DATE = "\n\nWanneer het volgende webinar is, hoor je van de makers."
WEBINAR_ANSWERED = (
    "\n\nIn de afleveringen staat hier al iets over; dat antwoord zie je hieronder. "
    "Misschien hoef je dus niet op het webinar te wachten."
)
WEBINAR_FULL = (
    "Je hebt al {limit} vragen klaarstaan voor het webinar, meer kan ik er niet bewaren. "
    "Trek er eerst een in met /mijnvragen, of wacht tot het webinar geweest is."
)
WEBINAR_MINE_HEADING = "<b>Je vragen voor het webinar</b> ({count})"
WEBINAR_MINE_LINE = "{n}. {question}"
WEBINAR_MINE_FOOTER = "Druk op een knop om die vraag in te trekken."
WEBINAR_MINE_EMPTY = (
    "Je hebt geen vragen klaarstaan voor het webinar. Stuur er een in met /webinar &lt;vraag&gt;."
)
WEBINAR_WITHDRAW_BUTTON = "Intrekken {n}"
WEBINAR_WITHDRAWN = "Vraag ingetrokken."
WEBINAR_WITHDRAW_GONE = "Deze vraag staat niet (meer) op je lijst."
WEBINAR_PRIVATE_ONLY = (
    "Je webinarvragen laat ik alleen in een privégesprek zien. Stuur me daar /mijnvragen."
)
WEBINAR_INFO_SET = "Opgeslagen. Wie een webinarvraag instuurt, leest nu:\n\n{info}"
WEBINAR_INFO_CLEARED = "De info over het volgende webinar is gewist."
WEBINAR_INFO_USAGE = (
    "Zet achter /webinarinfo wat abonnees over het volgende webinar moeten weten (datum, tijd, "
    "link), of /webinarinfo wissen om het te wissen.\n\nNu: {current}"
)
WEBINAR_INFO_NONE = "(niets ingesteld)"
WEBINAR_INFO_TOO_LONG = "Dat is te lang ({length} tekens); hoogstens {limit} tekens."
WEBINAR_EXPORT_EMPTY = "Er staan geen webinarvragen klaar."
WEBINAR_EXPORT_BUSY = "De webinarvragen worden al verzameld; het document komt zo."
WEBINAR_EXPORT_SUMMARY = (
    "<b>Webinarvragen</b>\n"
    "{questions} vragen van {askers} mensen, in {groups} groepen.\n\n"
    "<b>Meest gevraagd</b>\n{top}\n\n"
    "Alle groepen, formuleringen en wat het archief zegt staan in het document."
)
WEBINAR_EXPORT_TOP_LINE = "{n}. {question} ({askers} {people}; archief: {verdict})"
FEEDBACK_UP_BUTTON = "👍"
FEEDBACK_DOWN_BUTTON = "👎"
FEEDBACK_THANKS = "Bedankt voor je feedback!"
FEEDBACK_CHANGED = "Je stem is aangepast. Bedankt!"
FEEDBACK_SAME = "Die stem had je al gegeven."
FEEDBACK_GONE = "Dit antwoord heb ik niet meer; je stem is niet bewaard."
# After a 👎 (bot.feedback): optionally, what was wrong.
FEEDBACK_COMMENT_ASK = (
    "Jammer dat dit antwoord je niet hielp. Wat klopte er niet of wat miste je? Stuur het in "
    "één bericht (hoogstens {limit} tekens), dan lezen de makers het. Dat hoeft niet: tik op "
    "<b>Overslaan</b> of stel gewoon een nieuwe vraag met /vraag. Over {minutes} minuten "
    "vervalt deze vraag vanzelf."
)
FEEDBACK_COMMENT_ASK_GROUP = (
    "Jammer dat dit antwoord niet hielp. Wat klopte er niet? Antwoord op dit bericht "
    "(hoogstens {limit} tekens), dan lezen de makers het, of tik op <b>Overslaan</b>. Over "
    "{minutes} minuten vervalt deze vraag vanzelf."
)
FEEDBACK_SKIP_BUTTON = "Overslaan"
FEEDBACK_COMMENT_SAVED = "Dank je! Je opmerking is bewaard en de makers lezen mee."
FEEDBACK_COMMENT_SKIPPED = "Oké, overgeslagen."
FEEDBACK_COMMENT_GONE = (
    "Je stem bij dat antwoord is er niet meer (aangepast of gewist), dus ik heb je opmerking "
    "niet bewaard."
)
FEEDBACK_COMMENT_TOO_LONG = (
    "Je opmerking is wat lang ({length} tekens). Kun je haar korter maken, in hoogstens "
    "{limit} tekens? Of stuur „overslaan”."
)
FEEDBACK_SKIP_NOT_PENDING = "Er wacht geen opmerking meer van je bij dit antwoord."
FEEDBACK_COMMENTS_EMPTY = "Er zijn nog geen opmerkingen bij een 👎."
FEEDBACK_COMMENTS_HEADING = "<b>Opmerkingen bij 👎</b> (de laatste {shown} van {total})"
FEEDBACK_COMMENTS_LINE = "{when} · vraag: <i>{question}</i>\n{comment}"
WEBINAR_FILE_BUTTON = "Stel deze vraag in het webinar"
WEBINAR_FILE_FILED = "Je vraag staat op de lijst voor het volgende webinar."
WEBINAR_FILE_DUPLICATE = "Deze vraag staat al op je lijst voor het webinar."
WEBINAR_FILE_GONE = "Dit antwoord heb ik niet meer. Stuur je vraag met /webinar en dan je vraag."
WEBINAR_FILED_BY_BUTTON = (
    "{name} zette deze vraag op de lijst voor het volgende webinar: <i>{question}</i>"
)
WEBINAR_DONE_USAGE = (
    "Zet achter /webinarafgerond eventueel de link naar de opname (beginnend met https://), "
    "of niets als er geen opname is."
)
WEBINAR_DONE_EMPTY = "Er staan geen open webinarvragen; er is niets af te ronden."
WEBINAR_DONE_CLOSED = (
    "Ronde van {date} afgesloten: {questions} vragen van {askers} mensen gearchiveerd. "
    "De info over het webinar is gewist; zet die voor het volgende met /webinarinfo. "
    "Ik bedank nu iedereen die een vraag stelde."
)
WEBINAR_DONE_SUMMARY = (
    "Klaar: {sent} bedankjes verstuurd, {skipped} overgeslagen (geblokkeerd, of nooit een "
    "privégesprek met de bot begonnen)."
)
WEBINAR_DONE_THANKS = (
    "<b>Bedankt voor je vraag voor het webinar!</b>\n"
    "Het webinar is geweest en de makers hebben de ingestuurde vragen meegenomen. Je vragen "
    "staan nu niet meer op je lijst; voor het volgende webinar stuur je nieuwe in met /webinar."
)
WEBINAR_DONE_RECORDING = "\n\nTerugkijken kan hier: {link}"
WEBINAR_SUMMARY_NOTE = "Kop: samenvatting van de formuleringen door het taalmodel"
WEBINAR_PERSON = "persoon"
WEBINAR_PEOPLE = "personen"
WEBINAR_VERDICTS = {
    "found": "gevonden",
    "unsure": "twijfel",
    "not_found": "niet gevonden",
    None: "onbekend",
}

ERROR = "Sorry, er ging iets mis aan mijn kant. Probeer het over een momentje nog eens."

# Start-up errors (stderr, before logging is set up): Dutch first, then English.
TOKEN_MISSING = (
    "TELEGRAM_BOT_TOKEN ontbreekt. Zet het token van @BotFather in .env of in de omgeving.\n"
    "TELEGRAM_BOT_TOKEN is missing. Put the token from @BotFather in .env or the environment."
)
TOKEN_MALFORMED = (
    "TELEGRAM_BOT_TOKEN heeft niet de vorm <cijfers>:<tekens> (zoals 123456789:AAE…). "
    "Kopieer het token opnieuw van @BotFather.\n"
    "TELEGRAM_BOT_TOKEN does not look like <digits>:<characters> (e.g. 123456789:AAE…). "
    "Copy the token from @BotFather again."
)
CODES_TOO_SHORT = (
    "SUBSCRIBER_CODES: {count} code(s) zijn korter dan {minimum} tekens en dus te makkelijk te "
    "raden. Gebruik langere codes.\n"
    "SUBSCRIBER_CODES: {count} code(s) are shorter than {minimum} characters and too easy to "
    "guess. Use longer codes."
)
SETTINGS_INVALID = "De instellingen kloppen niet / the settings are invalid:\n{errors}"
TOKEN_REJECTED = (
    "Telegram accepteert het token niet ({reason}). Kopieer TELEGRAM_BOT_TOKEN opnieuw van "
    "@BotFather en controleer TELEGRAM_API_BASE_URL ({base_url}).\n"
    "Telegram did not accept the token ({reason}). Copy TELEGRAM_BOT_TOKEN from @BotFather "
    "again and check TELEGRAM_API_BASE_URL ({base_url})."
)
