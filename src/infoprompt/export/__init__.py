"""Moving trained runs out of the toolkit, in other projects' formats (peft: `infoprompt.export.peft`)."""
